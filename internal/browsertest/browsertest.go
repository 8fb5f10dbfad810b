// Package browsertest drives a real headless Chromium (Debian's chromium)
// from Go for the console's tests, and saves screenshots as test artefacts.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium finds the browser: $CHROMIUM, or chromium on the PATH.
func Chromium() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium on this machine: install it with `apt-get install -y chromium` (the console's tests drive a real browser)")
}

// New starts a headless Chromium with a 1280×800 window and returns a
// browser context; it is closed when the test ends.
func New(t testing.TB) context.Context {
	t.Helper()
	path, err := Chromium()
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	// Start the browser now, so a failure to start is reported as such. (The
	// first call's context must not have a timeout: it would end the browser.)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", path, err)
	}
	return ctx
}

// NewTab opens a tab for one more person: its own page and its own cookies
// (a separate browser context, like a private window), so each person's
// sign-in is their own.
func NewTab(t testing.TB, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// Open the tab now, on a context without a timeout: a tab lives as long
	// as the context of the first call made on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}

// Do runs steps with a time limit, failing the test with what was being done.
func Do(t testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		failed(t, ctx, what)
		t.Fatalf("%s: %v", what, err)
	}
}

// failed saves what the page showed when a step failed, for the person
// reading the test's artefacts.
func failed(t testing.TB, ctx context.Context, what string) {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		return
	}
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name() + "-FAILED-" + what)
	file := filepath.Join(ArtefactDir(), name+".png")
	if os.MkdirAll(ArtefactDir(), 0o755) == nil && os.WriteFile(file, png, 0o644) == nil {
		t.Logf("screenshot of the failure: %s", file)
	}
}

// Get runs one action with a time limit and returns its value.
func Get[T any](t testing.TB, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		v, err := chromedp.Run(c, a)
		// A live page may replace the node between finding it and reading
		// it (a live update swapping its section): read it again.
		if err != nil && strings.Contains(err.Error(), "No node with given id") && c.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// ArtefactDir is where screenshots go: $CRISISBUS_ARTEFACTS or artefacts/screenshots at the repository root.
func ArtefactDir() string {
	if d := os.Getenv("CRISISBUS_ARTEFACTS"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "artefacts", "screenshots")
}

// Screenshot saves a full-page PNG named after the test and step.
func Screenshot(t testing.TB, ctx context.Context, step string) string {
	t.Helper()
	// A page still being laid out has no size yet: try again for a moment.
	var png []byte
	var err error
	for try := 0; try < 20; try++ {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		png, err = chromedp.Run(c, chromedp.FullScreenshot(100))
		cancel()
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("screenshot %s: %v", step, err)
	}
	dir := ArtefactDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name() + "-" + step)
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", file)
	return file
}
