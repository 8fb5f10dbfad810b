package console_test

import (
	"context"
	"encoding/json"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/internal/browsertest"
)

// choose picks value in the field whose id is sel ("#offer-kind"), as a
// person would: the radio with that value (a short choice is radios, the
// first radio carrying the field's id), the option of a select, or the text
// of an input.
func choose(sel, value string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := chromedp.WaitReady(chromedp.CSS(sel))(ctx, t); err != nil {
			return chromedp.Void{}, err
		}
		s, _ := json.Marshal(sel)
		v, _ := json.Marshal(value)
		_, err := chromedp.Evaluate[bool](`(function(sel, v){
			var el = document.querySelector(sel);
			if (el.type === "radio" || el.type === "checkbox") {
				var pick = [...el.form.querySelectorAll('input[name="' + el.name + '"]')].find(r => r.value === v);
				if (!pick) { throw new Error(sel + " has no choice " + v); }
				pick.click();
				return true;
			}
			el.value = v;
			el.dispatchEvent(new Event("change", {bubbles: true}));
			return true;
		})(`+string(s)+`, `+string(v)+`)`)(ctx, t)
		return chromedp.Void{}, err
	}
}

// chosen is the value chosen in the field whose id is sel: the radio
// ticked in its group, or the select's value.
func (p *person) chosen(sel string) string {
	p.t.Helper()
	s, _ := json.Marshal(sel)
	return browsertest.Get(p.t, p.tab, "read "+sel, chromedp.Evaluate[string](`(function(sel){
		var el = document.querySelector(sel);
		if (el.type === "radio") {
			var on = el.form.querySelector('input[name="' + el.name + '"]:checked');
			return on ? on.value : "";
		}
		return el.value;
	})(`+string(s)+`)`))
}
