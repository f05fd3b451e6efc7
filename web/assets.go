package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var staticFS embed.FS

// asset is one embedded file, read once at start.
type asset struct {
	body        []byte
	etag        string
	contentType string
}

// assets holds every embedded file by its path under static/.
// Static after construction.
type assets map[string]asset

// contentTypes is explicit so that responses do not depend on the host's
// MIME tables (a module script served as text/plain is refused).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

func mustLoadAssets() assets {
	a, err := loadAssets(staticFS, "static")
	if err != nil {
		panic(fmt.Sprintf("web: embedded assets: %v", err)) // a build defect, not a runtime condition
	}
	return a
}

func loadAssets(fsys fs.FS, root string) (assets, error) {
	a := assets{}
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("%s: no content type for extension %q", p, path.Ext(p))
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a[strings.TrimPrefix(p, root+"/")] = asset{
			body:        b,
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
			contentType: ct,
		}
		return nil
	})
	return a, err
}

// ServeHTTP serves /static/{path}. Assets have no hashed names, so they are
// revalidated on each use ("no-cache"), which the ETag makes a cheap 304.
func (a assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	if strings.HasSuffix(name, ".html") { // pages have their own routes
		http.NotFound(w, r)
		return
	}
	a.serve(w, r, name)
}

// page serves one embedded file whatever the request path.
func (a assets) page(name string) http.Handler {
	if _, ok := a[name]; !ok {
		panic("web: missing embedded page " + name)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, name) })
}

func (a assets) serve(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := a[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
