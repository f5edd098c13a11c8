module github.com/ftpdtls/ftpdtls/examples/goftp

go 1.26.0

require (
	github.com/ftpdtls/ftpdtls v0.0.0
	goftp.io/server/v2 v2.0.3
)

require (
	github.com/sirupsen/logrus v1.10.2 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/ftpdtls/ftpdtls => ../..
