//go:build !unix

package ftpd

import "io/fs"

func devIno(fs.FileInfo) (dev, ino uint64, ok bool) { return 0, 0, false }
