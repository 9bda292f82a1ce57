package stages

import (
	"reflect"
	"testing"
)

func TestParseInstall(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Install
		wantErr bool
	}{
		{"none", "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n", Install{}, false},
		{"wanted by", "[Install]\nWantedBy=multi-user.target\n", Install{WantedBy: []string{"multi-user.target"}}, false},
		{"lists and reset", "[Install]\nWantedBy=a.target b.target\nWantedBy=\nWantedBy=c.target\nRequiredBy=d.target\n",
			Install{WantedBy: []string{"c.target"}, RequiredBy: []string{"d.target"}}, false},
		{"continuation and comments", "# top\n[Install]\n; c\nWantedBy=a.target \\\n  b.target\nAlias=x.service\nAlso=y.socket\nDefaultInstance=tty1\n",
			Install{WantedBy: []string{"a.target", "b.target"}, Alias: []string{"x.service"}, Also: []string{"y.socket"},
				DefaultInstance: "tty1"}, false},
		{"upheld by: not in systemd 252", "[Install]\nUpheldBy=z.target\n", Install{}, true},
		{"other section keys", "[Service]\nWantedBy=ignored.target\n[Install]\n  WantedBy = a.target  \n", Install{WantedBy: []string{"a.target"}}, false},
		{"crlf", "[Install]\r\nWantedBy=a.target\r\n", Install{WantedBy: []string{"a.target"}}, false},
		{"specifier", "[Install]\nWantedBy=%i.target\n", Install{}, true},
		{"unknown key", "[Install]\nWantedby=a.target\n", Install{}, true},
		{"no equals", "[Install]\nWantedBy\n", Install{}, true},
		{"bad header", "[Install\n", Install{}, true},
		{"slash", "[Install]\nWantedBy=../../etc/passwd\n", Install{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseInstall(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTemplateOf(t *testing.T) {
	tests := []struct{ in, tmpl, inst string }{
		{"getty@tty1.service", "getty@.service", "tty1"},
		{"getty@.service", "getty@.service", ""},
		{"sshd.service", "", ""},
	}
	for _, tt := range tests {
		tmpl, inst, _ := templateOf(tt.in)
		if tmpl != tt.tmpl || inst != tt.inst {
			t.Errorf("templateOf(%q) = %q, %q", tt.in, tmpl, inst)
		}
	}
}

func FuzzParseInstall(f *testing.F) {
	f.Add("[Install]\nWantedBy=multi-user.target\nAlias=a.service\n")
	f.Add("[Unit]\n[Install]\nWantedBy=a \\\n b\n")
	f.Fuzz(func(t *testing.T, s string) {
		in, err := ParseInstall(s)
		if err != nil {
			return
		}
		for _, names := range [][]string{in.WantedBy, in.RequiredBy, in.Alias, in.Also} {
			for _, n := range names {
				if checkUnitName(n) != nil {
					t.Fatalf("accepted unit name %q", n)
				}
			}
		}
	})
}
