package userfs

import "golang.org/x/sys/unix"

// openPath opens the directories of a path walk: O_PATH needs search
// permission only, as the kernel's own walk.
const openPath = unix.O_PATH
