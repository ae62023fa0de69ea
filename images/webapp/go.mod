module deploytool.local/images/webapp

go 1.22
