package console_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/internal/browsertest"
)

// 20:00. Two of the Maidstone haven's staff are off sick: the haven worker
// says so from the haven's worklist page, with the reason, and the page
// shows it closed, said by whom. Saying "closed" without why is asked
// again on the field. A form altered to name the children's suite, which
// the trust provides, is refused: a provider says how its own places
// stand, not another's. The AMHP service, which provides no place, has no
// such section. Then the haven opens again.
func TestAHavenWorkerSaysTheMaidstoneHavenIsClosedTonightAndWhy(t *testing.T) {
	base := startSystemAt(t, 20, 0)
	browser := browsertest.New(t)

	haven := signIn(t, browser, base, "haven.worker", "crisisbus-safehaven")
	haven.do("open your places",
		chromedp.Click(chromedp.CSS("#our-places > summary")),
		chromedp.WaitVisible(chromedp.CSS("#our-places-table")))
	if row := haven.text(`#our-places-table tr[data-place="haven-maidstone"]`); !strings.Contains(row, "Maidstone Safe Haven") || !strings.Contains(row, "Open") {
		t.Fatalf("the Maidstone haven's row reads %q", row)
	}
	haven.do("say it is closed without why",
		choose("#place-update-place", "haven-maidstone"),
		choose("#place-update-state", "closed"),
		chromedp.Click(chromedp.CSS(`form[action="/new/place-update"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".error-summary")))
	if msg := haven.text("#place-update-reason-error"); !strings.Contains(msg, "Enter why it is closed") {
		t.Fatalf("closed without a reason says %q", msg)
	}
	haven.do("say it is closed, and why",
		choose("#place-update-place", "haven-maidstone"),
		choose("#place-update-state", "closed"),
		chromedp.SendKeys(chromedp.CSS("#place-update-reason"), "two of tonight's staff are off sick"),
		chromedp.Click(chromedp.CSS(`form[action="/new/place-update"] button`)))
	haven.flash("Recorded how Maidstone Safe Haven stands now")
	haven.do("open your places again", chromedp.Click(chromedp.CSS("#our-places > summary")))
	row := haven.text(`#our-places-table tr[data-place="haven-maidstone"]`)
	if !strings.Contains(row, "Closed now") || !strings.Contains(row, "two of tonight's staff are off sick") || !strings.Contains(row, "Robin Hale") {
		t.Fatalf("after saying it is closed, the row reads %q", row)
	}
	browsertest.Screenshot(t, haven.tab, "our-places-closed")

	haven.do("name the children's suite in an altered form",
		choose("#place-update-state", "open"),
		script(`(() => { const r = document.querySelector('#place-update-place'); r.value = 'pos-dartford-children'; r.checked = true; return true })()`),
		chromedp.Click(chromedp.CSS(`form[action="/new/place-update"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".error-summary")))
	if msg := haven.text(".error-summary"); !strings.Contains(msg, "Single point of access") {
		t.Fatalf("an altered form naming another provider's place says %q", msg)
	}

	haven.do("say it is open again",
		choose("#place-update-place", "haven-maidstone"),
		choose("#place-update-state", "open"),
		chromedp.Click(chromedp.CSS(`form[action="/new/place-update"] button`)))
	haven.flash("Recorded how Maidstone Safe Haven stands now")
	haven.do("open your places again", chromedp.Click(chromedp.CSS("#our-places > summary")))
	if row := haven.text(`#our-places-table tr[data-place="haven-maidstone"]`); strings.Contains(row, "Closed now") {
		t.Fatalf("after saying it is open again, the row reads %q", row)
	}

	amhp := signIn(t, browser, base, "amhp.duty", "crisisbus-amhp")
	if strings.Contains(amhp.html(), "our-places") {
		t.Fatal("the AMHP service, which provides no place, is offered a places section")
	}
}

// script runs JavaScript in the page, as someone altering a form would.
func script(js string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](js)(ctx, t)
		return chromedp.Void{}, err
	}
}
