package conformance

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsNameRealTests holds the documents to the tests they cite: every
// `TestX` or `BenchmarkX` named in README.md, BENCHMARKS.md and docs/ is a
// function of some _test.go file in the repository, so that a renamed or
// removed test cannot leave a document pointing at nothing.
func TestDocsNameRealTests(t *testing.T) {
	root := ".."
	defined := map[string]bool{}
	funcRE := regexp.MustCompile(`(?m)^func ((?:Test|Benchmark)[A-Za-z0-9_]*)\(`)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range funcRE.FindAllSubmatch(src, -1) {
			defined[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(defined) < 100 {
		t.Fatalf("found only %d test functions under %s; is the walk broken?", len(defined), root)
	}

	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, filepath.Join(root, "README.md"), filepath.Join(root, "BENCHMARKS.md"))
	citeRE := regexp.MustCompile("`((?:Test|Benchmark)[A-Z][A-Za-z0-9_]*)[/` ]")
	cited := 0
	for _, doc := range docs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range citeRE.FindAllSubmatch(text, -1) {
			cited++
			if name := string(m[1]); !defined[name] {
				t.Errorf("%s cites %s, which no _test.go file defines", doc, name)
			}
		}
	}
	if cited < 50 {
		t.Errorf("the documents cite only %d tests; is the pattern broken?", cited)
	}
}
