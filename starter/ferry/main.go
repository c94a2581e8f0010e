// Command ferry is Ferry's bridge daemon and operator command line: ferry
// bridge, list, show, approve, reject, audit, backfill (package starter).
package main

import (
	"os"

	"github.com/ferrydata/ferry/starter"
)

func main() { os.Exit(starter.Run(os.Args[1:], os.Stdout, os.Stderr)) }
