// Command realprog is a small real program whose dependencies the
// modvault live test downloads through the proxy.
package main

import (
	"fmt"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
)

func main() {
	requests := prometheus.NewCounter(prometheus.CounterOpts{Name: "realprog_requests_total", Help: "Requests served."})
	prometheus.MustRegister(requests)

	root := &cobra.Command{
		Use:   "realprog",
		Short: "Serve a metrics endpoint",
		RunE: func(cmd *cobra.Command, args []string) error {
			requests.Inc()
			http.Handle("/metrics", promhttp.Handler())
			fmt.Println("listening on 127.0.0.1:9999")
			return http.ListenAndServe("127.0.0.1:9999", nil)
		},
	}
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}
