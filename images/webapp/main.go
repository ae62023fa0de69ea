// webapp: a small HTTP server for the real-node tests (clusters/local/images.py builds it into
// localhost/deploytool/webapp).
//
//	GET /healthz  200 "ok" (liveness)
//	GET /ready    200 "ready" (readiness)
//	GET /boots    the lines of <data-dir>/boots (one per start), when --data-dir is set
//
// Flags: --get URL (a client instead: print "<status> <body>" of URL, exit 0 on 200, retrying for
// up to 20 s; for Service and DNS checks from inside a pod), --port (8080), --data-dir (append "boot <n> <hostname>" to <dir>/boots at start and log
// the count), --alloc-mb N (allocate and touch N MiB, 1 MiB at a time, then hold it: a container
// whose limit is below N is OOM-killed by the kernel).
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

var held [][]byte

func main() {
	port := flag.Int("port", 8080, "port to listen on")
	dataDir := flag.String("data-dir", "", "folder for the boots file")
	allocMB := flag.Int("alloc-mb", 0, "MiB to allocate and hold")
	get := flag.String("get", "", "fetch this URL, print the status and body, exit 0 on 200")
	flag.Parse()
	if *get != "" {
		os.Exit(fetch(*get))
	}
	host, _ := os.Hostname()
	if *dataDir != "" {
		path := filepath.Join(*dataDir, "boots")
		old, _ := os.ReadFile(path)
		count := strings.Count(string(old), "\n") + 1
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			log.Fatalf("open %s: %v", path, err)
		}
		fmt.Fprintf(f, "boot %d %s\n", count, host)
		f.Close()
		log.Printf("boots: %d (%s)", count, path)
	}
	for i := 0; i < *allocMB; i++ {
		chunk := make([]byte, 1<<20)
		for j := range chunk {
			chunk[j] = byte(j)
		}
		held = append(held, chunk)
		if i%16 == 0 {
			log.Printf("allocated %d MiB", i+1)
			time.Sleep(10 * time.Millisecond)
		}
	}
	if *allocMB > 0 {
		log.Printf("holding %d MiB", *allocMB)
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ready") })
	http.HandleFunc("/boots", func(w http.ResponseWriter, r *http.Request) {
		data, err := os.ReadFile(filepath.Join(*dataDir, "boots"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(data)
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "webapp on %s\n", host) })
	log.Printf("webapp %s listening on :%d", host, *port)
	log.Fatal(http.ListenAndServe(fmt.Sprintf(":%d", *port), nil))
}

func fetch(url string) int {
	client := &http.Client{Timeout: 3 * time.Second}
	var last string
	for attempt := 0; attempt < 20; attempt++ {
		resp, err := client.Get(url)
		if err == nil {
			body := make([]byte, 4096)
			n, _ := resp.Body.Read(body)
			resp.Body.Close()
			fmt.Printf("%d %s\n", resp.StatusCode, strings.TrimSpace(string(body[:n])))
			if resp.StatusCode == http.StatusOK {
				return 0
			}
			return 1
		}
		last = err.Error()
		time.Sleep(time.Second)
	}
	fmt.Println("error", last)
	return 1
}
