// Command app is a third party's program built on Tipbox: the API with
// Tipbox's own modules plus the two example modules. It is all the code a
// team writes to ship its modules; its worker is the same line with
// tipbox.Worker.
//
//	go run ./examples/app [--config FILE]
package main

import (
	"github.com/tipbox/tipbox"
	"github.com/tipbox/tipbox/examples/follows"
	"github.com/tipbox/tipbox/examples/kudos"
)

func main() {
	tipbox.API(
		tipbox.WithName("example-app"),
		tipbox.WithModules(kudos.Module, follows.Module),
	).Main()
}
