// Command jenkinsroot answers a Jenkins controller's root API (GET /api/json) on loopback, with basic auth, so that
// scripts/images.sh can see the relay image's /readyz turn ready; it serves nothing else (Jenkins answers 404 too).
//
// Jenkins' root API is hudson.model.Hudson exported through Stapler's /api/json (jenkinsci/jenkins
// core/src/main/java/hudson/model/Api.java); an API token authenticates with HTTP basic auth (user:token), and a
// wrong token is answered 401 (jenkinsci/jenkins core/src/main/java/jenkins/security/BasicHeaderApiTokenAuthenticator.java).
package main

import (
	"crypto/subtle"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	user := flag.String("user", "", "the API token's user")
	tokenFile := flag.String("token-file", "", "file holding the API token")
	flag.Parse()
	b, err := os.ReadFile(*tokenFile)
	if err != nil || *user == "" {
		log.Fatalf("jenkinsroot: --user and a readable --token-file are required: %v", err)
	}
	token := strings.TrimRight(string(b), "\r\n")
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	http.HandleFunc("GET /api/json", func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != *user || subtle.ConstantTimeCompare([]byte(p), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="Jenkins"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.Header().Set("X-Jenkins", "2.479.3")
		_, _ = io.WriteString(w, `{"_class":"hudson.model.Hudson","mode":"NORMAL","nodeDescription":"the Jenkins controller","useCrumbs":true,"useSecurity":true}`)
	})
	log.Fatal(http.Serve(ln, nil))
}
