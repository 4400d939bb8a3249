package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/carerecord/carerecord/views"
)

// showKeyboardHelp lists the keyboard shortcuts. It holds nothing of any
// patient, so it needs no sign-in.
func (s *Server) showKeyboardHelp(c echo.Context) error {
	return render(c, http.StatusOK, views.KeyboardHelp(s.page(c, "Keyboard shortcuts")))
}
