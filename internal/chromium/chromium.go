// Package chromium finds a headless Chromium, gives the options the repo
// drives it with, and waits on a page, for the browser tests (web) and the
// patches bench (internal/bench) alike.
package chromium

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"time"

	"github.com/chromedp/chromedp"
)

// Env names the environment variable that points at a Chromium binary.
const Env = "CHROMIUM"

// Lookup returns the full path of $CHROMIUM, else of chromium,
// chromium-browser or google-chrome on PATH; "" when there is none.
func Lookup() string {
	for _, p := range []string{os.Getenv(Env), "chromium", "chromium-browser", "google-chrome"} {
		if p == "" {
			continue
		}
		if full, err := exec.LookPath(p); err == nil {
			return full
		}
	}
	return ""
}

// Options are the allocator options for a headless Chromium at path with
// its own profile folder and a window of width × height: no sandbox, GPU,
// first-run screens, background networking or throttling of background
// timers and renderers (a page's worker must keep its pace).
func Options(path, profile string, width, height int) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(width, height),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("password-store", "basic"),
	}
}

// WaitTrue evaluates the JavaScript expression js in ctx's tab every 50 ms
// until it is true, for at most timeout; each evaluation gets at most
// perTry. An expression that throws counts as false. The error is the last
// evaluation's, or "timed out".
func WaitTrue(ctx context.Context, js string, timeout, perTry time.Duration) error {
	deadline := time.Now().Add(timeout)
	expr := "(() => { try { return !!(" + js + "); } catch (e) { return false; } })()"
	for {
		tctx, cancel := context.WithTimeout(ctx, perTry)
		ok, err := chromedp.Run(tctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("timed out")
			}
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
