package directives

// Settings is how a module keeps its typed settings in each Server, as a
// ProFTPD module keeps config records in a server_rec: the module declares
// one Settings value for its settings type, its directive handlers fill
// the settings of the server they configure (For), and the code that uses
// them reads them back (Of).
//
//	var settings = directives.NewSettings(func() *Settings { return &Settings{Timeout: 5 * time.Second} })
//
//	func setTimeout(cmd *directives.Cmd) error { settings.For(cmd).Timeout = ...; return nil }
//	func SettingsOf(s *directives.Server) *Settings { return settings.Of(s) }
type Settings[T any] struct {
	defaults func() *T
}

// NewSettings declares a module's settings type; defaults returns a new
// value holding the settings of a server that has no directive of the
// module.
func NewSettings[T any](defaults func() *T) *Settings[T] {
	return &Settings[T]{defaults: defaults}
}

// Of returns the settings stored in s, or new defaults when s has none or
// is nil. The result may be shared with other readers: treat it as
// read-only.
func (k *Settings[T]) Of(s *Server) *T {
	if s != nil {
		if v, ok := s.Value(k).(*T); ok {
			return v
		}
	}
	return k.defaults()
}

// For returns the settings being built for the server cmd configures,
// storing new defaults there on first use. Directive handlers call it.
func (k *Settings[T]) For(cmd *Cmd) *T {
	if v, ok := cmd.Server.Value(k).(*T); ok {
		return v
	}
	v := k.defaults()
	cmd.Server.SetValue(k, v)
	return v
}
