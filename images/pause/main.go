// pause: the process that holds a pod's namespaces (the "sandbox" or infra container).
// It sleeps until SIGINT/SIGTERM, then exits 0; as PID 1 of the pod it reaps orphaned children.
// Built statically by deploytool (clusters/local/images.py) into localhost/deploytool/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
