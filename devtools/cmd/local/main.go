// Command local serves the auth-code function on a developer's machine
// (`make run`, package local). It is never deployed.
package main

import (
	"os"

	"github.com/sentiance-authcode/backend/devtools/local"
)

func main() {
	os.Exit(local.Main(os.Args[1:]))
}
