module github.com/Azure/aadsshlogin-extension-linux

go 1.26.0

require github.com/go-kit/log v0.2.1

require (
	github.com/go-logfmt/logfmt v0.5.1 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/hashicorp/go-version v1.9.0 // indirect
)
