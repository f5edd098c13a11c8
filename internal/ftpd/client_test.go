package ftpd

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ftpdtls/ftpdtls/internal/servetest"
)

// dialClient connects a line-level client to a test server, reads the
// greeting; Login logs in as the test user.
func dialClient(t *testing.T, addr string) *servetest.Client {
	t.Helper()
	c := servetest.Dial(t, addr)
	c.User, c.Pass = testUser, testPass
	return c
}

// logSink collects a server's log lines.
type logSink struct {
	mu    sync.Mutex
	lines []string
	ch    chan struct{}
}

func newLogger() (*logrus.Logger, *logSink) {
	sink := &logSink{ch: make(chan struct{}, 1)}
	l := logrus.New()
	l.SetLevel(logrus.DebugLevel)
	l.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true})
	l.Out = sink
	return l, sink
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.lines = append(s.lines, string(p))
	s.mu.Unlock()
	select {
	case s.ch <- struct{}{}:
	default:
	}
	return len(p), nil
}

// wait returns once a line containing want was logged.
func (s *logSink) wait(t *testing.T, want string) string {
	t.Helper()
	deadline := time.After(servetest.Deadline)
	for {
		s.mu.Lock()
		for _, l := range s.lines {
			if strings.Contains(l, want) {
				s.mu.Unlock()
				return l
			}
		}
		s.mu.Unlock()
		select {
		case <-s.ch:
		case <-deadline:
			t.Fatalf("no log line with %q; log:\n%s", want, s.String())
		}
	}
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "")
}
