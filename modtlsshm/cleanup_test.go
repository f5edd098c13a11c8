package modtlsshm

import (
	"os"
	"testing"
)

// TestCacheFileCleanupFollowsRecreatedFile: a test that removes its cache
// file and lets Open create it again gets a new inode, hence new keys;
// cacheFile's cleanup must remove the segments on those keys too. (It
// did not, and TestSecuritySegmentIsPrivate leaked both of its segments
// whenever the new file did not reuse the old inode.) A hard link keeps
// the old inode alive here so that it cannot be reused.
func TestCacheFileCleanupFollowsRecreatedFile(t *testing.T) {
	var ids []int
	t.Run("inner", func(t *testing.T) {
		path := cacheFile(t)
		if err := os.Link(path, path+".old"); err != nil {
			t.Fatal(err)
		}
		old, _ := statFileID(path)
		os.Remove(path)
		s := openSessionAt(t, path, 0)
		o := openOCSP(t, path, 0)
		if s.c.fid == old {
			t.Fatal("the recreated file has the old inode")
		}
		ids = []int{s.c.shmid, o.c.shmid}
	})
	if len(ids) != 2 {
		t.Fatal("the inner test did not open both caches")
	}
	for _, id := range ids {
		if _, err := shmStat(id); err == nil {
			t.Errorf("shm ID %d survived the test's cleanup", id)
		}
	}
}
