//go:build integration

package schedule_test

import (
	"testing"

	"github.com/ferrydata/ferry/internal/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }
