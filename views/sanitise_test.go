package views_test

import (
	"testing"

	"github.com/carerecord/carerecord/views"
)

func TestSanitiseHTML(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"TextStructureKept", `<p>Dear <b>Dr</b> <em>Ade</em></p><ul><li>One</li></ul>`, `<p>Dear <b>Dr</b> <em>Ade</em></p><ul><li>One</li></ul>`},
		{"ScriptAndStyleGoWithTheirContent", `<script>alert(1)</script><style>p{}</style><p>x</p>`, `<p>x</p>`},
		{"StyleAndHandlersStripped", `<p style="color:red" onclick="alert(1)" class="c" id="i">x</p>`, `<p>x</p>`},
		{"LinksAndImagesGoTextStays", `<a href="javascript:alert(1)">see</a><img src="https://t.invalid/p.png" alt="pixel">`, ` see  `},
		{"PageHeadingsBecomeText", `<h1>Letter</h1><h3>Plan</h3>`, ` Letter <h3>Plan</h3>`},
		{"TableSpansKept", `<table><tr><td colspan="2" width="900">a</td></tr></table>`, `<table><tr><td colspan="2">a</td></tr></table>`},
		{"FramesAndFormsGo", `<iframe src="x"></iframe><form action="/x"><input name="a"></form>b`, `     b`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := views.SanitiseHTML(tc.in); got != tc.want {
				t.Fatalf("%q\nwant %q", got, tc.want)
			}
		})
	}
}
