module deploytool.local/images/pause

go 1.22
