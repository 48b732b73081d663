// Command efs-fuse mounts Amazon EFS through FUSE, speaking NFSv4.1 over TLS
// itself, with the EFS mount helper's command line (see root.go).
package main

import "os"

func main() {
	os.Exit(Main())
}
