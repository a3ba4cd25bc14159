// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp)
// inside a test, on a free loopback port: it records what it accepts and
// can answer any transaction with a chosen reply (451, 550, ...).
package smtptest

import (
	"bytes"
	"errors"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	Data []byte
}

// Reply decides the answer to a transaction at the end of DATA: nil
// accepts it, an *smtp.SMTPError refuses it with that code.
type Reply func(from string, to []string, attempt int) *smtp.SMTPError

// Server is a running SMTP server.
type Server struct {
	Host string
	Port int

	srv *smtp.Server
	ln  net.Listener

	mu       sync.Mutex
	msgs     []Message
	attempts map[string]int // by recipient
	conns    int
	open     int
	reply    Reply
	discard  bool
	hangUp   bool
	stall    chan struct{} // while open, DATA gets no reply
}

// Start runs a server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWithIdle(t, 30*time.Second)
}

// StartWithIdle runs a server that drops a connection idle for idle.
func StartWithIdle(t testing.TB, idle time.Duration) *Server {
	t.Helper()
	s := &Server{attempts: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.conns++
		s.open++
		s.mu.Unlock()
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = idle
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 1 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln = listener{ln}
	s.srv, s.ln = srv, ln
	s.Host, s.Port = "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
	srv.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = ln.Close() // Close may run before Serve registered the listener
		<-done
	})
	return s
}

// SetReply sets how transactions are answered (nil: accept all).
func (s *Server) SetReply(r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reply = r
}

// Discard makes the server accept messages without keeping them (for
// benchmarks).
func (s *Server) Discard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discard = true
}

// HangUpAfterAccept makes the server stop reading a connection once it
// has accepted a message on it: the client gets the 250 for its DATA, and
// its next command (RSET, NOOP, QUIT) fails, as with a server that crashed
// or dropped the connection right after taking the message.
func (s *Server) HangUpAfterAccept() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hangUp = true
}

// StallData makes the server take each message's data and then say
// nothing, as an overloaded server does, until release is called (or the
// test ends). The message is not accepted.
func (s *Server) StallData(t testing.TB) (release func()) {
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stall = ch
	return release
}

// Messages returns the accepted messages so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Attempts returns how many transactions reached DATA for the recipient.
func (s *Server) Attempts(rcpt string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[rcpt]
}

// Open returns how many connections are open now.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// Connections returns how many connections the server has accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

type session struct {
	s    *Server
	conn *smtp.Conn
	from string
	to   []string
}

func (x *session) Reset() { x.from, x.to = "", nil }
func (x *session) Logout() error {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.open--
	return nil
}
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := x.s
	s.mu.Lock()
	stall := s.stall
	s.mu.Unlock()
	if stall != nil {
		<-stall
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "stalled"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	attempt := 0
	for _, rcpt := range x.to {
		s.attempts[rcpt]++
		attempt = max(attempt, s.attempts[rcpt])
	}
	if s.reply != nil {
		if e := s.reply(x.from, x.to, attempt); e != nil {
			return e
		}
	}
	if !s.discard {
		s.msgs = append(s.msgs, Message{From: x.from, To: append([]string(nil), x.to...), Data: b})
	}
	if s.hangUp {
		if hc, ok := x.conn.Conn().(*hangConn); ok {
			hc.armed.Store(true) // the reply to DATA is written after this returns
		}
	}
	return nil
}

// listener hands the server connections that can hang up after a reply.
type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &hangConn{Conn: c}, nil
}

// hangConn closes itself once armed and a 250 reply has been written.
type hangConn struct {
	net.Conn
	armed atomic.Bool
}

func (c *hangConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if c.armed.Load() && bytes.HasPrefix(b, []byte("250")) {
		_ = c.Conn.Close()
	}
	return n, err
}

// Reply451 is a temporary refusal; Reply550 a permanent one.
var (
	Reply451 = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	Reply550 = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
)

// Parsed is a message split into what tests look at.
type Parsed struct {
	Header  mail.Header
	Subject string // decoded
	Text    string // the text/plain part, decoded
	HTML    string // the text/html part, decoded
	Parts   []string
}

// Parse reads a multipart/alternative (or single-part) message.
func Parse(data []byte) (Parsed, error) {
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return Parsed{}, err
	}
	var p Parsed
	p.Header = m.Header
	dec := new(mime.WordDecoder)
	if p.Subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		return Parsed{}, err
	}
	ct, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return Parsed{}, err
	}
	if !strings.HasPrefix(ct, "multipart/") {
		body, err := decodeBody(m.Body, m.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return Parsed{}, err
		}
		p.setPart(ct, body)
		return p, nil
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return Parsed{}, err
		}
		pct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		body, err := decodeBody(part, part.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return Parsed{}, err
		}
		p.setPart(pct, body)
	}
}

func (p *Parsed) setPart(ct, body string) {
	p.Parts = append(p.Parts, ct)
	switch ct {
	case "text/plain":
		p.Text = body
	case "text/html":
		p.HTML = body
	}
}

// decodeBody decodes the transfer encoding and turns CRLF into LF.
func decodeBody(r io.Reader, cte string) (string, error) {
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	return strings.ReplaceAll(string(b), "\r\n", "\n"), err
}
