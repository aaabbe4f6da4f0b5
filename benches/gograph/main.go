// Command podcount lists the pods of a namespace. It exists so that its
// module graph (k8s.io/client-go and its dependencies) can be downloaded by
// the go command benchmarks; it is never run by them.
package main

import (
	"context"
	"fmt"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	config, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "podcount: loading the kubeconfig failed:", err)
		os.Exit(1)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "podcount: creating the client failed:", err)
		os.Exit(1)
	}
	pods, err := client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "podcount: listing pods failed:", err)
		os.Exit(1)
	}
	fmt.Println(len(pods.Items))
}
