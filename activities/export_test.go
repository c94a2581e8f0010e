package activities

import (
	"io"

	"github.com/ferrydata/ferry/internal/rules"
)

func rulesContent() io.Writer { return rules.Rules{CheckContent: true}.NewContentCheck("a.csv") }
