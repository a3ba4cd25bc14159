// Package dashboard serves the queue dashboard at /admin: a server-rendered
// shell and a small plain-JS page, every asset embedded, that reads and
// acts through the queue admin API (core/queue) with the token the
// operator pasted, kept in the tab's sessionStorage.
//
// Its own routes are the page and its assets (public: they hold no data),
// and three JSON/stream routes for the admin and viewer roles: who the
// token is, the cache and realtime figures read from the process's own
// Prometheus registry, and one event stream that multiplexes every
// queue's transitions, so a tab holds one connection whatever it shows.
package dashboard

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tipbox/tipbox/core/auth"
	"github.com/tipbox/tipbox/core/httpserver"
	"github.com/tipbox/tipbox/core/queue"
)

//go:embed assets
var assetFS embed.FS

// Path is where the page is served.
const Path = "/admin"

// apiPrefix holds the dashboard's own JSON routes, under the admin API so
// the server's /api guard (a valid token) and rate limits apply to them.
const apiPrefix = "/api/v1/admin/dashboard"

// contentSecurityPolicy allows nothing but this origin's own scripts,
// styles and fetches: no inline script, no external host.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Deps are what the dashboard reads: the queues (admin, event store and
// hub), the verifier that guards its routes, and the process's metrics.
type Deps struct {
	Admin    *queue.Admin
	Store    queue.Store
	Hub      *queue.EventHub
	Verifier *auth.Verifier
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
}

// Dashboard is the /admin page and its routes (httpserver.Endpoints).
type Dashboard struct {
	deps   Deps
	page   []byte
	assets map[string]asset
	// KeepAlive is how often an idle event stream gets a comment line.
	KeepAlive time.Duration
}

type asset struct {
	body, gz []byte
	ctype    string
	version  string
}

// New renders the page shell and compresses the embedded assets once.
func New(d Deps) (*Dashboard, error) {
	if d.Admin == nil || d.Store == nil || d.Hub == nil || d.Verifier == nil || d.Gatherer == nil {
		return nil, fmt.Errorf("dashboard: Admin, Store, Hub, Verifier and Gatherer are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	assets, err := loadAssets()
	if err != nil {
		return nil, err
	}
	page, err := renderPage(assets)
	if err != nil {
		return nil, err
	}
	return &Dashboard{deps: d, page: page, assets: assets, KeepAlive: 15 * time.Second}, nil
}

func loadAssets() (map[string]asset, error) {
	out := map[string]asset{}
	err := fs.WalkDir(assetFS, "assets", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		name := path.Base(p)
		if strings.HasSuffix(name, ".tmpl") {
			return nil
		}
		body, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(body)
		if err := zw.Close(); err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		out[name] = asset{body: body, gz: buf.Bytes(), ctype: contentType(name), version: hex.EncodeToString(sum[:6])}
		return nil
	})
	return out, err
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

// renderPage renders the shell once: asset URLs carry their content hash,
// so they can be cached for good and a new build is fetched at once.
func renderPage(assets map[string]asset) ([]byte, error) {
	t, err := template.ParseFS(assetFS, "assets/index.html.tmpl")
	if err != nil {
		return nil, err
	}
	url := func(name string) (string, error) {
		a, ok := assets[name]
		if !ok {
			return "", fmt.Errorf("dashboard: no asset %q", name)
		}
		return Path + "/assets/" + name + "?v=" + a.version, nil
	}
	js, err := url("app.js")
	if err != nil {
		return nil, err
	}
	css, err := url("app.css")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, map[string]string{"Script": js, "Style": css, "API": apiPrefix}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Endpoints implements httpserver.Endpoints.
func (d *Dashboard) Endpoints() []httpserver.Route {
	read := d.deps.Verifier.Role(auth.RoleAdmin, auth.RoleViewer)
	return []httpserver.Route{
		{Method: "GET", Path: Path, Access: auth.Public(), Handler: d.servePage},
		{Method: "GET", Path: Path + "/assets/:file", Access: auth.Public(), Handler: d.serveAsset},
		{Method: "GET", Path: apiPrefix + "/session", Access: read, Handler: d.session},
		{Method: "GET", Path: apiPrefix + "/runtime", Access: read, Handler: d.runtime},
		{Method: "GET", Path: apiPrefix + "/events", Access: read, Handler: d.events},
	}
}

func pageHeaders(c *fiber.Ctx) {
	c.Set("Content-Security-Policy", contentSecurityPolicy)
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func (d *Dashboard) servePage(c *fiber.Ctx) error {
	pageHeaders(c)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(d.page)
}

func (d *Dashboard) serveAsset(c *fiber.Ctx) error {
	a, ok := d.assets[c.Params("file")]
	if !ok {
		return httpserver.Error(fiber.StatusNotFound, "not_found", "no such asset")
	}
	pageHeaders(c)
	c.Set(fiber.HeaderContentType, a.ctype)
	c.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
	if c.Query("v") == a.version {
		c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		c.Set(fiber.HeaderCacheControl, "no-cache")
	}
	if strings.Contains(c.Get(fiber.HeaderAcceptEncoding), "gzip") {
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(a.gz)
	}
	return c.Send(a.body)
}

// sessionView tells the page who the token is and whether to show actions.
type sessionView struct {
	UserID    int64     `json:"userId"`
	Role      string    `json:"role"`
	CanAct    bool      `json:"canAct"`
	ExpiresAt time.Time `json:"expiresAt"`
	Queues    []string  `json:"queues"`
}

func (d *Dashboard) session(c *fiber.Ctx) error {
	p, _ := auth.PrincipalFrom(c)
	return c.JSON(sessionView{UserID: p.UserID, Role: p.Role, CanAct: p.IsAdmin(), ExpiresAt: p.ExpiresAt.UTC(),
		Queues: d.deps.Admin.Queues()})
}

// GzipSize is the page's weight as a browser downloads it: the shell plus
// every asset, gzipped.
func (d *Dashboard) GzipSize() int {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(d.page)
	_ = zw.Close()
	n := buf.Len()
	for _, a := range d.assets {
		n += len(a.gz)
	}
	return n
}
