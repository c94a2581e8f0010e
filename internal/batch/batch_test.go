package batch

import (
	"reflect"
	"strings"
	"testing"
)

const (
	sumA = "cd74993f7257b5af3649f8440ed272ae2ee39109cb23889e629b5fbdeba28fea"
	sumB = "0000000000000000000000000000000000000000000000000000000000000001"
)

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name, file, body string
		want             []Entry
		err              string
	}{
		{"json", "b.manifest.json", `{"files": [{"name": "labs_1.csv", "size": 12, "sha256": "` + strings.ToUpper(sumA) + `"}, {"name": "labs_2.csv", "sha256": "` + sumB + `"}]}`,
			[]Entry{{"labs_1.csv", 12, sumA}, {"labs_2.csv", -1, sumB}}, ""},
		{"sha256sum", "b1.sha256", "# batch b1\n" + sumA + "  labs_1.csv\r\n" + sumB + " *./out/labs_2.csv\n\n",
			[]Entry{{"labs_1.csv", -1, sumA}, {"labs_2.csv", -1, sumB}}, ""},
		{"json not json", "b.manifest.json", "labs_1.csv", nil, `manifest b.manifest.json: is not valid JSON of the form {"files"`},
		{"json unknown field", "b.manifest.json", `{"files": [{"name": "a", "sha256": "` + sumA + `", "md5": "x"}]}`, nil, `unknown field "md5"`},
		{"json short hash", "b.manifest.json", `{"files": [{"name": "a.csv", "sha256": "abc"}]}`, nil, `files[0] ("a.csv"): sha256 "abc" is not 64 hexadecimal digits`},
		{"json negative size", "b.manifest.json", `{"files": [{"name": "a.csv", "size": -2, "sha256": "` + sumA + `"}]}`, nil, "size -2 is negative"},
		{"json two documents", "b.manifest.json", `{"files": []} {}`, nil, "more than one JSON document"},
		{"empty", "b.manifest.json", `{"files": []}`, nil, "lists no files"},
		{"sha256sum empty", "b1.sha256", "\n# nothing\n", nil, "manifest b1.sha256: lists no files"},
		{"sha256sum bad line", "b1.sha256", sumA + "  a.csv\nnot a hash\n", nil, `manifest b1.sha256: line 2: line "not a hash" does not start with a 64-digit SHA-256`},
		{"sha256sum without names", "b1.sha256", sumA + "\n", nil, "line 1: the hash names no file"},
		{"twice", "b1.sha256", sumA + "  a.csv\n" + sumB + "  dir/a.csv\n", nil, "lists a.csv twice (entries 1 and 2)"},
		{"itself", "b1.sha256", sumA + "  b1.sha256\n", nil, "lists itself"},
		{"no name", "b.manifest.json", `{"files": [{"name": " ", "sha256": "` + sumA + `"}]}`, nil, "entry 1 has no file name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseManifest(tt.file, []byte(tt.body))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.Files, tt.want) {
				t.Fatalf("got %+v, want %+v", m.Files, tt.want)
			}
		})
	}
}

// FuzzParseManifest: any body either parses into plain, distinct names
// with 64-digit lower-case hashes, or is refused with a reason naming the
// manifest; nothing panics.
func FuzzParseManifest(f *testing.F) {
	f.Add("b.manifest.json", `{"files": [{"name": "labs_1.csv", "size": 12, "sha256": "`+sumA+`"}]}`)
	f.Add("b1.sha256", sumA+"  labs_1.csv\n"+sumB+" *labs_2.csv\n")
	f.Add("b1.sha256", "# c\n\ufeff"+sumA+"  ../x\n")
	f.Add("b.manifest.json", `{"files":[{"name":"/","sha256":"`+sumA+`"}]}`)
	f.Fuzz(func(t *testing.T, name, body string) {
		m, err := ParseManifest(name, []byte(body))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "manifest "+name+": ") {
				t.Fatalf("error does not name the manifest: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range m.Files {
			if e.Name == "" || strings.Contains(e.Name, "/") || e.Name == "." || e.Name == ".." || seen[e.Name] {
				t.Fatalf("entry %+v: not a plain, distinct name", e)
			}
			seen[e.Name] = true
			if len(e.SHA256) != 64 || strings.ToLower(e.SHA256) != e.SHA256 || e.Size < -1 {
				t.Fatalf("entry %+v: bad hash or size", e)
			}
		}
	})
}

func TestFolder(t *testing.T) {
	for _, tt := range []struct{ key, folder, name string }{
		{"acme/inbound/b1/labs.csv", "acme/inbound/b1/", "labs.csv"},
		{"acme/inbound/2026/b1/labs.csv", "acme/inbound/2026/b1/", "labs.csv"},
		{"acme/inbound/labs.csv", "", ""},
		{"acme/inbound/b1/", "", ""},
		{"globex/inbound/b1/labs.csv", "", ""},
	} {
		folder, name, ok := Folder("acme", tt.key)
		if folder != tt.folder || name != tt.name || ok != (tt.folder != "") {
			t.Errorf("Folder(%q) = %q, %q, %v; want %q, %q", tt.key, folder, name, ok, tt.folder, tt.name)
		}
	}
}

func manifest(entries ...Entry) Member {
	return Member{FileID: "m1", Name: "b.manifest.json", IsManifest: true, Manifest: &Manifest{Files: entries}}
}

func TestEvaluate(t *testing.T) {
	in := &Input{Partner: "acme", Folder: "acme/inbound/b1/", Settings: Settings{ManifestPatterns: []string{"*.manifest.json"}}}
	one := Member{FileID: "f1", Name: "labs_1.csv", Size: 12, SHA256: sumA}
	two := Member{FileID: "f2", Name: "labs_2.csv", Size: 3, SHA256: sumB}
	listing := manifest(Entry{"labs_1.csv", 12, sumA}, Entry{"labs_2.csv", -1, sumB})
	tests := []struct {
		name    string
		members []Member
		reasons []string
	}{
		{"complete, manifest last", []Member{one, two, listing}, nil},
		{"no manifest", []Member{one, two}, []string{"batch acme/inbound/b1/: no manifest has arrived (a file named like *.manifest.json in the folder)"}},
		{"missing", []Member{listing, one}, []string{"batch acme/inbound/b1/: labs_2.csv listed in the manifest has not arrived"}},
		{"checksum", []Member{listing, one, {FileID: "f2", Name: "labs_2.csv", Size: 3, SHA256: sumA}},
			[]string{"batch acme/inbound/b1/: labs_2.csv: SHA-256 " + sumA + " differs from the manifest's " + sumB}},
		{"size", []Member{listing, {FileID: "f1", Name: "labs_1.csv", Size: 13, SHA256: sumA}, two},
			[]string{"batch acme/inbound/b1/: labs_1.csv: size 13 bytes differs from the manifest's 12"}},
		{"unlisted", []Member{listing, one, two, {FileID: "f3", Name: "extra.csv"}}, []string{"batch acme/inbound/b1/: extra.csv is not in the manifest"}},
		{"rule broken", []Member{listing, one, {FileID: "f2", Name: "labs_2.csv", Size: 3, SHA256: sumB, Violations: []string{"empty"}}},
			[]string{"batch acme/inbound/b1/: labs_2.csv breaks the partner's rules: empty"}},
		{"bad manifest", []Member{{FileID: "m1", Name: "b.manifest.json", IsManifest: true, ManifestError: "manifest b.manifest.json: lists no files: a batch needs at least one"}, one},
			[]string{"batch acme/inbound/b1/: manifest b.manifest.json: lists no files: a batch needs at least one: upload a corrected manifest under the same name"}},
		{"second manifest is a claimant", []Member{listing, one, two, {FileID: "m2", Name: "c.manifest.json", IsManifest: true}},
			[]string{"batch acme/inbound/b1/: c.manifest.json is not in the manifest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState(in, "batch-x")
			for _, m := range tt.members {
				s.Add(m)
			}
			complete := s.Evaluate()
			if complete != (len(tt.reasons) == 0) || !reflect.DeepEqual(s.Reasons, tt.reasons) {
				t.Fatalf("complete %v, reasons %q; want %q", complete, s.Reasons, tt.reasons)
			}
		})
	}
}

// A duplicate report changes nothing; a re-upload replaces the earlier
// version, which is returned so its workflow can be told.
func TestAddDuplicateAndReupload(t *testing.T) {
	s := NewState(&Input{Folder: "acme/inbound/b1/"}, "batch-x")
	one := Member{FileID: "f1", Name: "labs_1.csv", SHA256: sumA}
	if _, changed := s.Add(one); !changed {
		t.Fatal("first report changed nothing")
	}
	if prev, changed := s.Add(one); changed || prev != nil {
		t.Fatalf("duplicate report: changed %v, replaced %+v", changed, prev)
	}
	again := Member{FileID: "f1b", Name: "labs_1.csv", SHA256: sumB}
	prev, changed := s.Add(again)
	if !changed || prev == nil || prev.FileID != "f1" || len(s.Members) != 1 || s.Members[0].FileID != "f1b" || len(s.Superseded) != 1 {
		t.Fatalf("re-upload: replaced %+v, members %+v, superseded %+v", prev, s.Members, s.Superseded)
	}
	d := s.Digest()
	s.Members[0].SHA256 = sumA
	if s.Digest() == d {
		t.Fatal("the digest does not bind the members' checksums")
	}
}
