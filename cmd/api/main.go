// Command api runs the Tipbox HTTP API (and, in the embedded profile, the
// queue workers in the same process).
//
//	api [serve] [--config FILE]
//	api token --user ID [--role admin] [--ttl 1h] [--config FILE]
//	api migrate [--config FILE]              apply pending migrations and exit
//	api vapid                                print a new VAPID key pair (Web Push)
package main

import "github.com/tipbox/tipbox"

func main() { tipbox.API().Main() }
