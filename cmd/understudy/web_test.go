//go:build linux

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/testproc"
)

// envBrowserRequired makes the browser test fail, not skip, without a
// chromium binary (.ci/run sets it, having installed one).
const envBrowserRequired = "UNDERSTUDY_BROWSER_REQUIRED"

const webTree = `
name: demo
children:
  - {name: a, command: sleep, args: [1000]}
  - name: jobs
    supervisor:
      children:
        - {name: fetch, command: sleep, args: [1000]}
`

// startWeb starts `understudy run --http 127.0.0.1:0` (and flags) on
// spec, waits until the tree is up, and returns the page's URL.
func startWeb(t *testing.T, spec string, flags ...string) (*runProc, record) {
	t.Helper()
	p := startRun(t, spec, append([]string{"--socket", "none", "--http", "127.0.0.1:0"}, flags...)...)
	served := p.waitFor("the web page", func(r record) bool { return strings.HasPrefix(r.str("msg"), "serving the web page") })
	p.waitFor("the tree up", msg("the tree is up", ""))
	return p, served
}

// webCall is one request to the web server and its answer.
type webCall struct {
	method, path string
	header       map[string]string
	host         string // the Host header, when not the address served
	body         string
}

func (c webCall) do(t *testing.T, base string) (status int, header http.Header, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, c.method, strings.TrimSuffix(base, "/")+c.path, strings.NewReader(c.body))
	require.NoError(t, err)
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	if c.host != "" {
		req.Host = c.host
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

// refusal is the error of a refusal's JSON body.
func refusal(t *testing.T, body string) string {
	t.Helper()
	var e struct{ Error string }
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	return e.Error
}

// webStatus is GET /v1/status with the header given, by child path from
// the root.
func webStatus(t *testing.T, base string, header map[string]string) map[string]childStatus {
	t.Helper()
	code, _, body := webCall{method: "GET", path: "/v1/status", header: header}.do(t, base)
	require.Equal(t, http.StatusOK, code, body)
	var st treeStatus
	require.NoError(t, json.Unmarshal([]byte(body), &st), body)
	kids := map[string]childStatus{}
	for _, c := range st.Children {
		kids[strings.TrimPrefix(c.Path, st.Name+"/")] = c
	}
	return kids
}

// TestWebRefuses: the web server refuses a request whose Host is not the
// address served (DNS rebinding), a request that acts without a JSON
// body, from another site (Origin, Sec-Fetch-Site) or by another method
// than POST; it acts on a same-site POST of JSON.
func TestWebRefuses(t *testing.T) {
	p, served := startWeb(t, webTree)
	base := served.str("url")
	u, err := url.Parse(base)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", u.Hostname())
	assert.Empty(t, served.str("login"), "no token on loopback")

	code, h, body := webCall{method: "GET", path: "/"}.do(t, base)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `<script src="/app.js"`)
	assert.Contains(t, h.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	assert.Equal(t, "DENY", h.Get("X-Frame-Options"))
	code, h, _ = webCall{method: "GET", path: "/app.js"}.do(t, base)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, h.Get("Content-Type"), "javascript")

	pid := webStatus(t, base, nil)["a"].Pid
	jsonCT := map[string]string{"Content-Type": "application/json"}
	with := func(k, v string) map[string]string {
		return map[string]string{"Content-Type": "application/json", k: v}
	}
	for _, c := range []struct {
		name string
		call webCall
		code int
		err  string
	}{
		{"another host", webCall{method: "GET", path: "/v1/status", host: "rebound.example:" + u.Port()}, http.StatusMisdirectedRequest, `Host "rebound.example:` + u.Port() + `" is not the address served`},
		{"another host's page", webCall{method: "GET", path: "/", host: "rebound.example"}, http.StatusMisdirectedRequest, "is not the address served"},
		{"no body", webCall{method: "POST", path: "/v1/restart?child=a"}, http.StatusUnsupportedMediaType, `Content-Type "": a request that acts sends a JSON body`},
		{"a form", webCall{method: "POST", path: "/v1/restart", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: "child=a"}, http.StatusUnsupportedMediaType, "application/x-www-form-urlencoded"},
		{"text/plain", webCall{method: "POST", path: "/v1/stop", header: map[string]string{"Content-Type": "text/plain"}, body: `{"child":"a"}`}, http.StatusUnsupportedMediaType, "text/plain"},
		{"another origin", webCall{method: "POST", path: "/v1/stop", header: with("Origin", "http://evil.example"), body: `{"child":"a"}`}, http.StatusForbidden, `Origin "http://evil.example": a request from another site may not act`},
		{"a null origin", webCall{method: "POST", path: "/v1/stop", header: with("Origin", "null"), body: `{"child":"a"}`}, http.StatusForbidden, `Origin "null"`},
		{"cross-site", webCall{method: "POST", path: "/v1/stop", header: with("Sec-Fetch-Site", "cross-site"), body: `{"child":"a"}`}, http.StatusForbidden, `Sec-Fetch-Site "cross-site"`},
		{"same-site is not same-origin", webCall{method: "POST", path: "/v1/stop", header: with("Sec-Fetch-Site", "same-site"), body: `{"child":"a"}`}, http.StatusForbidden, `Sec-Fetch-Site "same-site"`},
		{"PUT", webCall{method: "PUT", path: "/v1/stop", header: jsonCT, body: `{"child":"a"}`}, http.StatusMethodNotAllowed, "method PUT: want GET, or POST to act"},
		{"a GET that would act", webCall{method: "GET", path: "/v1/stop?child=a"}, http.StatusNotFound, "no GET /v1/stop"},
		{"an unknown field", webCall{method: "POST", path: "/v1/stop", header: jsonCT, body: `{"chld":"a"}`}, http.StatusBadRequest, `the body: want {"child": PATH}`},
		{"not JSON", webCall{method: "POST", path: "/v1/stop", header: jsonCT, body: `child=a`}, http.StatusBadRequest, "the body"},
		{"an unknown child", webCall{method: "POST", path: "/v1/stop", header: jsonCT, body: `{"child":"nope"}`}, http.StatusNotFound, `no child "nope" in the tree`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, body := c.call.do(t, base)
			assert.Equal(t, c.code, code, body)
			assert.Contains(t, refusal(t, body), c.err)
		})
	}
	kids := webStatus(t, base, nil)
	assert.Equal(t, pid, kids["a"].Pid, "no refused request acted")
	assert.Equal(t, "running", kids["a"].State)

	// The page's own request: same origin, JSON.
	code, _, body = webCall{method: "POST", path: "/v1/restart", header: map[string]string{
		"Content-Type": "application/json", "Origin": strings.TrimSuffix(base, "/"), "Sec-Fetch-Site": "same-origin",
	}, body: `{"child":"demo/a"}`}.do(t, base)
	require.Equal(t, http.StatusOK, code, body)
	var res actResult
	require.NoError(t, json.Unmarshal([]byte(body), &res))
	assert.Equal(t, "restarted", res.Did)
	assert.NotEqual(t, pid, res.Pid)
	testproc.WaitGone(t, pid)
	kids = webStatus(t, base, nil)
	assert.Equal(t, res.Pid, kids["a"].Pid)
	assert.Equal(t, 1, kids["a"].Restarts, "a restart asked for counts")

	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
}

// TestWebToken: with a token, every request carries it, in a header or in
// the cookie a one-time ?token= login sets; --http-public without a file
// generates one and logs it.
func TestWebToken(t *testing.T) {
	tok := "0123456789abcdef0123456789abcdef"
	file := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(file, []byte(tok+"\n"), 0o600))
	p, served := startWeb(t, webTree, "--http-public", "--http-token", file)
	base := served.str("url")
	assert.NotContains(t, p.transcript(), tok, "a token from a file is not logged")

	for _, c := range []struct {
		name string
		call webCall
		err  string
	}{
		{"none", webCall{method: "GET", path: "/v1/status"}, "a token is needed"},
		{"the page without it", webCall{method: "GET", path: "/"}, "a token is needed"},
		{"a wrong one", webCall{method: "GET", path: "/v1/status", header: map[string]string{"Authorization": "Bearer " + strings.Repeat("0", len(tok))}}, "a token is needed"},
		{"a wrong cookie", webCall{method: "GET", path: "/v1/status", header: map[string]string{"Cookie": tokenCookie + "=nope"}}, "a token is needed"},
		{"a wrong login", webCall{method: "GET", path: "/?token=nope"}, "the token is wrong"},
		{"a login by POST", webCall{method: "POST", path: "/v1/stop?token=" + tok, header: map[string]string{"Content-Type": "application/json"}, body: `{"child":"a"}`}, "the token is wrong"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, body := c.call.do(t, base)
			assert.Equal(t, http.StatusUnauthorized, code, body)
			assert.Contains(t, refusal(t, body), c.err)
		})
	}
	assert.Equal(t, "running", webStatus(t, base, map[string]string{"Authorization": "Bearer " + tok})["a"].State)

	code, h, _ := webCall{method: "GET", path: "/?token=" + tok}.do(t, base)
	require.Equal(t, http.StatusSeeOther, code)
	assert.Equal(t, "/", h.Get("Location"), "the token leaves the address bar")
	cookie := h.Get("Set-Cookie")
	assert.Contains(t, cookie, tokenCookie+"="+tok)
	assert.Contains(t, cookie, "HttpOnly")
	assert.Contains(t, cookie, "SameSite=Strict")
	assert.Equal(t, "running", webStatus(t, base, map[string]string{"Cookie": tokenCookie + "=" + tok})["a"].State)
	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())

	// Generated: logged in the login URL, and required.
	p, served = startWeb(t, webTree, "--http-public")
	login, err := url.Parse(served.str("login"))
	require.NoError(t, err)
	gen := login.Query().Get("token")
	assert.Len(t, gen, 64)
	code, _, _ = webCall{method: "GET", path: "/v1/status"}.do(t, served.str("url"))
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Equal(t, "running", webStatus(t, served.str("url"), map[string]string{"Authorization": "Bearer " + gen})["a"].State)
	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
}

// TestWebBadFlags: an address off loopback without --http-public, a bad
// address, a bad token file: each a clear error before the tree starts.
func TestWebBadFlags(t *testing.T) {
	path := writeSpec(t, webTree)
	short := filepath.Join(t.TempDir(), "short")
	require.NoError(t, os.WriteFile(short, []byte("secret\n"), 0o600))
	missing := filepath.Join(t.TempDir(), "missing")
	for _, c := range []struct {
		flags []string
		code  int
		err   string
	}{
		{[]string{"--http", "0.0.0.0:0"}, exitInvalid, "understudy run: --http 0.0.0.0:0: is not a loopback address: anyone who reaches it can stop the tree: serve 127.0.0.1:PORT, or pass --http-public (a token is then required)\n"},
		{[]string{"--http", ":0"}, exitInvalid, "understudy run: --http :0: listens on every address"},
		{[]string{"--http", "192.0.2.1:8080"}, exitInvalid, "--http 192.0.2.1:8080: is not a loopback address"},
		{[]string{"--http", "8080"}, exitInvalid, "understudy run: --http 8080: want HOST:PORT, such as 127.0.0.1:8080"},
		{[]string{"--http", "127.0.0.1:0", "--http-token", short}, exitInvalid, "--http-token " + short + ": the token (its first line) has 6 bytes: want at least 16"},
		{[]string{"--http", "127.0.0.1:0", "--http-token", missing}, exitInvalid, "--http-token open " + missing + ": no such file or directory"},
		{[]string{"--http-public"}, exitUsage, "understudy run: --http-public and --http-token go with --http ADDR\n"},
	} {
		status, _, errOut := runCLI(t, "", append(append([]string{"run", "--ui", "logs", "--socket", "none"}, c.flags...), path)...)
		assert.Equal(t, c.code, status, c.flags)
		assert.Contains(t, errOut, c.err, c.flags)
	}
}

// chromium finds a Chromium or Chrome binary, or skips the test (fails it
// with UNDERSTUDY_BROWSER_REQUIRED=1).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(envBrowserRequired) == "1" {
		t.Fatalf("no chromium in $PATH, and %s=1 (apt-get install chromium)", envBrowserRequired)
	}
	t.Skipf("no chromium in $PATH (apt-get install chromium; %s=1 makes this a failure)", envBrowserRequired)
	return ""
}

// browser is a headless Chromium driven by chromedp.
type browser struct {
	t      *testing.T
	p      *runProc // the tree, whose transcript a failure shows
	ctx    context.Context
	cancel []context.CancelFunc
}

// newBrowser starts Chromium exe, headless (without its sandbox when run
// as root, where Chromium refuses it); it is closed when the test ends.
func newBrowser(t *testing.T, exe string, p *runProc) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.Headless)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	b := &browser{t: t, p: p, ctx: bctx, cancel: []context.CancelFunc{cancelBrowser, cancelAlloc}}
	t.Cleanup(b.close)
	require.NoError(t, chromedp.Do(bctx), "start the browser") // not under a timeout, which would end it
	return b
}

// close ends the browser and waits for it.
func (b *browser) close() {
	for _, c := range b.cancel {
		c()
	}
}

// do runs steps, each wait bounded by the deadline.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, deadline)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, steps...), "%s\n%s", what, b.p.transcript())
}

// eval returns the value of a JavaScript expression in the page.
func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, deadline)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	require.NoError(b.t, err, expr)
	return s
}

// text returns the text of the first element sel selects.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return b.eval(`document.querySelector(` + strconv.Quote(sel) + `).textContent`)
}

// attr returns the attribute name of the first element sel selects.
func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, deadline)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	require.NoError(b.t, err, sel)
	require.True(b.t, v.Exists, "%s has no %s", sel, name)
	return v.Value
}

// row selects the page's row of the child at path (from the root, demo).
func row(child string) string { return `tr[data-path="demo/` + child + `"]` }

func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)
}

// TestWebPageInABrowser drives headless Chromium against a running tree:
// the page shows the children; a worker killed shows as a restart; the
// restart button restarts the child; stop and start stop and start it.
func TestWebPageInABrowser(t *testing.T) {
	exe := chromium(t)
	p, served := startWeb(t, webTree)
	base := served.str("url")
	b := newBrowser(t, exe, p)

	b.do("the page shows the children",
		chromedp.Navigate(base),
		visible(row("a")+`[data-state="running"]`),
		visible(row("jobs")+`[data-state="running"]`),
		visible(row("jobs/fetch")+`[data-state="running"]`),
		visible(`#live.on`),
	)
	assert.Contains(t, b.text(`#where`), "web "+base, "the header shows the page's URL")
	pidAttr := b.attr(row("a"), "data-pid")
	pid, err := strconv.Atoi(pidAttr)
	require.NoError(t, err)
	assert.Equal(t, webStatus(t, base, nil)["a"].Pid, pid)

	// A worker killed: the page shows its restart.
	killed := time.Now()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	b.do("the kill shows as a restart",
		visible(row("a")+`[data-restarts="1"][data-state="running"]:not([data-pid="`+pidAttr+`"])`))
	t.Logf("SIGKILL of pid %d to its restart shown on the page: %v", pid, time.Since(killed).Round(time.Millisecond))
	assert.Contains(t, b.text(`#events`), "killed by SIGKILL")

	// The restart button.
	pidAttr = b.attr(row("a"), "data-pid")
	pid, err = strconv.Atoi(pidAttr)
	require.NoError(t, err)
	clicked := time.Now()
	b.do("the restart button restarts a",
		click(row("a")+` button[data-op="restart"]`),
		visible(row("a")+`[data-restarts="2"][data-state="running"]:not([data-pid="`+pidAttr+`"])`))
	t.Logf("restart button to the new pid shown on the page: %v", time.Since(clicked).Round(time.Millisecond))
	testproc.WaitGone(t, pid)

	// Stop, then Start (shown for a stopped child only).
	b.do("the stop button stops jobs/fetch",
		click(row("jobs/fetch")+` button[data-op="stop"]`),
		visible(row("jobs/fetch")+`[data-state="terminated"] button[data-op="start"]`))
	assert.Equal(t, "terminated", webStatus(t, base, nil)["jobs/fetch"].State)
	b.do("the start button starts it",
		click(row("jobs/fetch")+` button[data-op="start"]`),
		visible(row("jobs/fetch")+`[data-state="running"]`))
	assert.Empty(t, b.text(`#error`))

	b.close()
	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
}

// TestWebInTheLiveViewHeader: the page's URL, port 0 resolved, stays in
// the live view's header, and ctl status shows it too.
func TestWebInTheLiveViewHeader(t *testing.T) {
	sock := shortSocket(t)
	p := startCLI(t, "run", "--ui", "live", "--http", "127.0.0.1:0", "--socket", sock, writeSpec(t, webTree))
	_, frame := waitFrame(t, p, "a", "a running", func(row, _ string) bool {
		f := strings.Fields(row)
		return len(f) > 1 && f[1] == "running"
	})
	assert.Regexp(t, `\nweb http://127\.0\.0\.1:\d+/  control `+sock, frame)
	st, _ := status(t, sock)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/$`, st.Web)
	assert.Contains(t, frame, "web "+st.Web)
	code, out, _ := ctl(t, sock, "status")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "\nweb "+st.Web+"\n")
	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
}

// TestWebPageWithATokenInABrowser: with a token, the login URL sets the
// cookie and leaves the address bar without the token; the page then
// follows the events and acts with the cookie alone.
func TestWebPageWithATokenInABrowser(t *testing.T) {
	exe := chromium(t)
	p, served := startWeb(t, webTree, "--http-public")
	base, login := served.str("url"), served.str("login")
	require.NotEmpty(t, login)
	b := newBrowser(t, exe, p)

	b.do("without the token, a refusal", chromedp.Navigate(base))
	assert.Contains(t, b.eval(`document.body.textContent`), "a token is needed")

	b.do("the login shows the children",
		chromedp.Navigate(login),
		visible(row("a")+`[data-state="running"]`),
		visible(`#live.on`))
	assert.Equal(t, base, b.eval(`location.href`), "the token left the address bar")
	assert.Empty(t, b.eval(`document.cookie`), "the cookie is out of the page's scripts' reach")
	b.do("the stop button stops a",
		click(row("a")+` button[data-op="stop"]`),
		visible(row("a")+`[data-state="terminated"] button[data-op="start"]`))
	assert.Empty(t, b.text(`#error`))
	b.close()
	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
}
