// Package v1alpha2 stands in for k8s.io/cri-api/pkg/apis/runtime/v1alpha2, which Debian does not package.
// The stargz snapshotter library (service/resolver/cri.go) uses only this one type from it; the daemon built
// here never serves the CRI image service, so the struct only has to exist with these fields.
package v1alpha2

// AuthConfig holds registry credentials, as the CRI API defines them.
type AuthConfig struct {
	Username      string
	Password      string
	Auth          string
	ServerAddress string
	IdentityToken string
	RegistryToken string
}
