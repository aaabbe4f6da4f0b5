// Command podcount prints the number of pods and of Deployments in the
// default namespace, the first through k8s.io/client-go and the second
// through a sigs.k8s.io/controller-runtime client. The go command benchmarks
// download its module graph, which is those two modules and their
// dependencies. They never build or run the program.
package main

import (
	"context"
	"fmt"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func main() {
	config, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "podcount: loading the kubeconfig failed:", err)
		os.Exit(1)
	}
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "podcount: creating the client-go client failed:", err)
		os.Exit(1)
	}
	pods, err := clientset.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "podcount: listing pods failed:", err)
		os.Exit(1)
	}
	fmt.Println("pods:", len(pods.Items))

	runtimeClient, err := client.New(config, client.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "podcount: creating the controller-runtime client failed:", err)
		os.Exit(1)
	}
	var deployments appsv1.DeploymentList
	if err := runtimeClient.List(context.Background(), &deployments, client.InNamespace("default")); err != nil {
		fmt.Fprintln(os.Stderr, "podcount: listing Deployments failed:", err)
		os.Exit(1)
	}
	fmt.Println("Deployments:", len(deployments.Items))
}
