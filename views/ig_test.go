package views

import "testing"

func TestSinceVerified(t *testing.T) {
	cases := []struct {
		name string
		h    IGHomePage
		want int64
	}{
		{"EventsWrittenSinceAreCounted", IGHomePage{Verified: true, VerifiedEvents: 0, Anchored: true, AnchorSeq: 412}, 412},
		{"NothingSince", IGHomePage{Verified: true, VerifiedEvents: 412, Anchored: true, AnchorSeq: 412}, 0},
		{"NoCheckpointSaysNothing", IGHomePage{Verified: true, VerifiedEvents: 3}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.h.SinceVerified(); got != tc.want {
				t.Errorf("SinceVerified = %d, want %d", got, tc.want)
			}
		})
	}
}
