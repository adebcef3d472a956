package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// The web page: `understudy run --http ADDR` serves the control handler
// (control.go) on TCP, and beside it one page (web/index.html, its script
// and its style, embedded) that shows the tree live from GET /v1/status
// and the server-sent events of GET /v1/events, with a button per child
// for each of restart, stop and start.
//
// A TCP port has no peer credentials to check, so every request passes
// webGuard first:
//
//   - Host must name the address served (a DNS-rebinding page's requests
//     carry its own name), unless the server listens on every address;
//   - with a token (required off loopback), the request carries it in
//     "Authorization: Bearer TOKEN" or the cookie a one-time GET ?token=
//     sets, compared in constant time;
//   - a request that acts is a POST whose body is JSON (Content-Type
//     application/json: a cross-site form cannot send it, and a
//     cross-site script cannot without a CORS preflight, which is never
//     answered), and neither Sec-Fetch-Site nor Origin says it comes from
//     another site.

//go:embed web
var webFiles embed.FS

// tokenCookie is the cookie that carries the token after a ?token= login.
const tokenCookie = "understudy_token"

// maxBody bounds a request's JSON body.
const maxBody = 64 << 10

// webConfig is what the flags say of the web page.
type webConfig struct {
	addr      string // --http
	public    bool   // --http-public: an address other than loopback
	tokenFile string // --http-token
}

// webServer serves the control handler and the page on TCP.
type webServer struct {
	url       string // http://HOST:PORT/, the page
	login     string // url?token=..., when a token is needed
	generated bool   // the token was generated (and is logged)
	srv       *http.Server
	wg        sync.WaitGroup
}

// isLoopback reports whether host (an address's host part) is a loopback
// address or "localhost".
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// readToken reads the token from path: its first line, at least 16 bytes.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	if len(tok) < 16 {
		return "", fmt.Errorf("%s: the token (its first line) has %d bytes: want at least 16 (such as the output of: openssl rand -hex 32)", path, len(tok))
	}
	return tok, nil
}

// serveWeb checks cfg, listens on its address (so a bad or busy one is an
// error before the tree starts) and serves api and the page.
func serveWeb(cfg webConfig, api http.Handler) (*webServer, error) {
	host, _, err := net.SplitHostPort(cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("want HOST:PORT, such as 127.0.0.1:8080 (port 0 picks one): %v", err)
	}
	loopback := isLoopback(host)
	if !loopback && !cfg.public {
		what := "is not a loopback address"
		if host == "" {
			what = "listens on every address"
		}
		return nil, fmt.Errorf("%s: anyone who reaches it can stop the tree: serve 127.0.0.1:PORT, or pass --http-public (a token is then required)", what)
	}
	token := ""
	generated := false
	switch {
	case cfg.tokenFile != "":
		if token, err = readToken(cfg.tokenFile); err != nil {
			return nil, fmt.Errorf("--http-token %w", err)
		}
	case cfg.public:
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		token, generated = hex.EncodeToString(b), true
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	g := &webGuard{token: token}
	switch {
	case loopback:
		for _, h := range []string{net.JoinHostPort("localhost", port), net.JoinHostPort(host, port), ln.Addr().String()} {
			if !containsFold(g.hosts, h) {
				g.hosts = append(g.hosts, h)
			}
		}
	case host != "" && !net.ParseIP(host).IsUnspecified():
		g.hosts = []string{net.JoinHostPort(host, port)}
	}
	// On every address (0.0.0.0, ::, :PORT) any name may reach it: the
	// token is the guard.
	shown := host
	if shown == "" || net.ParseIP(shown).IsUnspecified() {
		if shown, err = os.Hostname(); err != nil {
			shown = "localhost"
		}
	}
	s := &webServer{url: "http://" + net.JoinHostPort(shown, port) + "/", generated: generated}
	if token != "" {
		s.login = s.url + "?token=" + url.QueryEscape(token)
	}
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.HandleFunc("GET /{$}", servePage("web/index.html"))
	mux.HandleFunc("GET /app.js", servePage("web/app.js"))
	mux.HandleFunc("GET /style.css", servePage("web/style.css"))
	s.srv = &http.Server{Handler: g.wrap(mux), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener failed; the tree runs on without its page
		}
	}()
	return s, nil
}

// stop closes the listener, ends the requests in flight (the page's
// events stream too) and waits for the server.
func (s *webServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	s.wg.Wait()
}

// servePage serves one embedded file, never framed by another page, its
// script and style from itself only.
func servePage(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(webFiles, name)
		if err != nil {
			answer(w, nil, refuse(http.StatusNotFound, "no %s", name))
			return
		}
		ct := mime.TypeByExtension(name[strings.LastIndexByte(name, '.'):])
		if ct == "" {
			ct = "text/html; charset=utf-8"
		}
		h := w.Header()
		h.Set("Content-Type", ct)
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		_, _ = w.Write(b)
	}
}

// webGuard checks every request to the web server (see the top of this
// file).
type webGuard struct {
	hosts []string // the Host values accepted; nil: any
	token string   // "": none needed
}

func (g *webGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := g.check(w, r); err != nil {
			if err != errHandled {
				answer(w, nil, err)
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// check returns nil to let r through, or the refusal. A GET ?token= with
// the right token sets the cookie and is answered with a redirect to the
// same path without it (check returns errHandled).
func (g *webGuard) check(w http.ResponseWriter, r *http.Request) error {
	if g.hosts != nil && !containsFold(g.hosts, r.Host) {
		return refuse(http.StatusMisdirectedRequest, "Host %q is not the address served (%s): refused, as a page of another site that renamed this address would be", r.Host, strings.Join(g.hosts, ", "))
	}
	if g.token != "" {
		if q := r.URL.Query(); q.Has("token") {
			if r.Method != http.MethodGet || !g.matches(q.Get("token")) {
				return refuse(http.StatusUnauthorized, "the token is wrong: open the URL understudy logged")
			}
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: g.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			q.Del("token")
			u := *r.URL
			u.RawQuery = q.Encode()
			w.Header().Set("Referrer-Policy", "no-referrer")
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return errHandled
		}
		if !g.matches(requestToken(r)) {
			return refuse(http.StatusUnauthorized, "a token is needed: open the URL understudy logged (…/?token=…), or send Authorization: Bearer TOKEN")
		}
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, HEAD, POST")
		return refuse(http.StatusMethodNotAllowed, "method %s: want GET, or POST to act", r.Method)
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		return refuse(http.StatusUnsupportedMediaType, "Content-Type %q: a request that acts sends a JSON body, application/json", r.Header.Get("Content-Type"))
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return refuse(http.StatusForbidden, "Sec-Fetch-Site %q: a request from another site may not act", site)
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Scheme != "http" || !strings.EqualFold(u.Host, r.Host) {
			return refuse(http.StatusForbidden, "Origin %q: a request from another site may not act (this is http://%s)", origin, r.Host)
		}
	}
	return nil
}

// errHandled says the guard answered the request itself.
var errHandled = errors.New("answered")

func (g *webGuard) matches(tok string) bool {
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(g.token)) == 1
}

// requestToken is the token r carries: "Authorization: Bearer TOKEN",
// else the cookie.
func requestToken(r *http.Request) string {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(tok)
	}
	if c, err := r.Cookie(tokenCookie); err == nil {
		return c.Value
	}
	return ""
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
