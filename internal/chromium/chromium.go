// Package chromium finds a headless Chromium and gives the options the
// repo drives it with, for the browser tests (web) and the patches bench
// (internal/bench) alike.
package chromium

import (
	"os"
	"os/exec"

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
