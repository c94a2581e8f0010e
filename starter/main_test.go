//go:build integration

package starter

import (
	"testing"

	"github.com/ferrydata/ferry/internal/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }
