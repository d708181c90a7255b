// Command local serves the auth-code function over HTTP on a developer's
// machine (`make run`): the function that app.New builds, behind an
// emulation of API Gateway, with a development issuer and a Sentiance
// stand-in unless real ones are configured. It is never deployed.
package main

import (
	"os"

	"github.com/sentiance-authcode/backend/devtools/local"
)

func main() {
	os.Exit(local.Main(os.Args[1:]))
}
