package local

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/sentiance-authcode/backend/internal/app"
)

// The device hints carry the real port, and an all-interfaces listener
// lists the addresses a phone can use.
func TestBannerDeviceHints(t *testing.T) {
	cfg := app.Config{JWTIssuer: "http://127.0.0.1:3017", JWTAudiences: []string{"local-dev"}, ExternalIDClaim: "sub"}
	tests := []struct {
		name      string
		info      startInfo
		want, not []string
	}{
		{
			name: "loopback",
			info: startInfo{BaseURL: "http://127.0.0.1:3017", Config: cfg},
			want: []string{"iOS simulator     http://127.0.0.1:3017", "Android emulator  http://10.0.2.2:3017", "LOCAL_ADDR=0.0.0.0:3017 make run"},
			not:  []string{"<port>"},
		},
		{
			name: "all interfaces",
			info: startInfo{BaseURL: "http://127.0.0.1:3000", Config: cfg, LANURLs: []string{"http://192.168.1.20:3000", "http://[fd00::5]:3000"}},
			want: []string{"Android emulator  http://10.0.2.2:3000", "a phone on your network  http://192.168.1.20:3000", "a phone on your network  http://[fd00::5]:3000"},
			not:  []string{"<port>", "LOCAL_ADDR=0.0.0.0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			printBanner(&b, tt.info)
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("banner lacks %q:\n%s", w, b.String())
				}
			}
			for _, n := range tt.not {
				if strings.Contains(b.String(), n) {
					t.Errorf("banner has %q:\n%s", n, b.String())
				}
			}
		})
	}
}

// lanURLs lists only addresses another device can reach: no loopback, no
// link-local, IPv4 first.
func TestLANURLs(t *testing.T) {
	var addrs []net.Addr
	for _, cidr := range []string{"127.0.0.1/8", "fd00::5/64", "::1/128", "192.168.1.20/24", "fe80::1/64", "10.0.0.5/8", "169.254.1.1/16"} {
		ip, ipnet, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		ipnet.IP = ip
		addrs = append(addrs, ipnet)
	}
	got := lanURLs(addrs, 3000)
	want := []string{"http://192.168.1.20:3000", "http://10.0.0.5:3000", "http://[fd00::5]:3000"}
	if !slices.Equal(got, want) {
		t.Errorf("lanURLs = %q, want %q", got, want)
	}
}
