// Command worker runs Tipbox's queue consumers, and nothing else, so that
// any number of them can share the queues of one Redis. It serves
// /healthz, /readyz and /metrics on worker.admin_addr.
//
//	worker [--config FILE]
package main

import "github.com/tipbox/tipbox"

func main() { tipbox.Worker().Main() }
