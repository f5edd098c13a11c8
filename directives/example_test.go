package directives_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ftpdtls/ftpdtls/directives"
)

// greetingKey is the key under which mod_hello keeps its setting in a
// Server; a type of its own, so no other module can collide with it.
type greetingKey struct{}

// A module package registers its module in init; importing the package is
// what makes "LoadModule mod_hello.c" work.
func init() {
	directives.Register(&directives.Module{
		Name:    "mod_hello.c",
		Version: "mod_hello/0.1",
		Directives: []directives.Directive{{
			Name:     "HelloGreeting",
			Contexts: directives.Root | directives.VirtualHost | directives.Global,
			Args:     directives.ArgsExactly(1),
			Handler: func(cmd *directives.Cmd) error {
				if strings.TrimSpace(cmd.Args[0]) == "" {
					return errors.New("greeting must not be empty")
				}
				cmd.Server.SetValue(greetingKey{}, cmd.Args[0])
				return nil
			},
		}},
	})
}

func Example() {
	conf := `
ServerName "example"
LoadModule mod_hello.c
HelloGreeting "hello, world"
<VirtualHost 127.0.0.1>
  Port 2121
  HelloGreeting ""
</VirtualHost>
`
	_, err := directives.Parse(strings.NewReader(conf), "/etc/proftpd/example.conf", directives.Options{})
	fmt.Println(err)

	cfg, err := directives.Parse(strings.NewReader(strings.Replace(conf, `HelloGreeting ""`, "HelloGreeting hi", 1)), "/etc/proftpd/example.conf", directives.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Main.Name, cfg.Main.Value(greetingKey{}))
	for _, vh := range cfg.VirtualHosts {
		fmt.Println(vh.Addrs, vh.Port, vh.Value(greetingKey{}))
	}
	fmt.Println(cfg.ModuleLoaded("mod_hello.c"))
	// Output:
	// fatal: HelloGreeting: greeting must not be empty on line 7 of '/etc/proftpd/example.conf'
	// example hello, world
	// [127.0.0.1] 2121 hi
	// true
}
