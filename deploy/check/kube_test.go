package check

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// typedFor returns an empty object of the Kubernetes API type for
// apiVersion/kind, or nil for a kind these manifests should not contain.
func typedFor(apiVersion, kind string) any {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}
	case "v1/Secret":
		return &corev1.Secret{}
	case "v1/Service":
		return &corev1.Service{}
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}
	case "batch/v1/Job":
		return &batchv1.Job{}
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1/Ingress":
		return &networkingv1.Ingress{}
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	}
	return nil
}

// decodeStrict decodes one manifest into its API type, refusing unknown
// fields (what `kubectl apply --validate=strict` refuses).
func decodeStrict(doc []byte) (any, error) {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return nil, err
	}
	obj := typedFor(meta.APIVersion, meta.Kind)
	if obj == nil {
		return nil, fmt.Errorf("unexpected kind %s/%s", meta.APIVersion, meta.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", meta.Kind, err)
	}
	return obj, nil
}

// manifests is a built overlay, decoded.
type manifests struct {
	deployments  map[string]*appsv1.Deployment
	statefulSets map[string]*appsv1.StatefulSet
	jobs         map[string]*batchv1.Job
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	ingresses    []*networkingv1.Ingress
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	pdbs         map[string]*policyv1.PodDisruptionBudget
	netpols      map[string]*networkingv1.NetworkPolicy
}

// build runs kustomize on dir (default options: load restrictions on, as
// `kubectl apply -k` has them) and decodes every object strictly.
func build(t *testing.T, dir string) manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out := manifests{
		deployments: map[string]*appsv1.Deployment{}, statefulSets: map[string]*appsv1.StatefulSet{}, jobs: map[string]*batchv1.Job{},
		services: map[string]*corev1.Service{}, configMaps: map[string]*corev1.ConfigMap{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, netpols: map[string]*networkingv1.NetworkPolicy{},
	}
	for _, r := range m.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, err := decodeStrict(doc)
		if err != nil {
			t.Errorf("%s: %s/%s does not decode strictly into the Kubernetes API types: %v", dir, r.GetKind(), r.GetName(), err)
			continue
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			out.deployments[o.Name] = o
		case *appsv1.StatefulSet:
			out.statefulSets[o.Name] = o
		case *batchv1.Job:
			out.jobs[o.Name] = o
		case *corev1.Service:
			out.services[o.Name] = o
		case *corev1.ConfigMap:
			// Generated names carry a content hash suffix (-<10 chars>);
			// refer to them by the generator's name.
			out.configMaps[unhashed(o.Name)] = o
		case *networkingv1.Ingress:
			out.ingresses = append(out.ingresses, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			out.hpas = append(out.hpas, o)
		case *policyv1.PodDisruptionBudget:
			out.pdbs[o.Name] = o
		case *networkingv1.NetworkPolicy:
			out.netpols[o.Name] = o
		}
	}
	return out
}

// unhashed strips kustomize's generator hash suffix from a name.
func unhashed(name string) string {
	if i := strings.LastIndex(name, "-"); i > 0 && len(name)-i-1 == 10 {
		return name[:i]
	}
	return name
}

// configMap returns the built ConfigMap generated as name, failing the
// test when the build has none.
func (m manifests) configMap(t *testing.T, name string) *corev1.ConfigMap {
	t.Helper()
	cm := m.configMaps[name]
	if cm == nil {
		t.Fatalf("the build has no ConfigMap %s", name)
	}
	return cm
}

// secretKeys reads the Secrets the manifests expect from
// base/secrets.example.yaml, decoding them strictly too.
func secretKeys(t *testing.T, base string) map[string]map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(base, "secrets.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		obj, err := decodeStrict([]byte(doc))
		if err != nil {
			t.Fatalf("secrets.example.yaml: %v", err)
		}
		s, ok := obj.(*corev1.Secret)
		if !ok {
			t.Fatalf("secrets.example.yaml holds a %T; only Secrets belong there", obj)
		}
		keys := map[string]bool{}
		for k := range s.StringData {
			keys[k] = true
		}
		for k := range s.Data {
			keys[k] = true
		}
		out[s.Name] = keys
	}
	return out
}

// TestKubernetesOverlays builds the base and each overlay with kustomize,
// decodes every object strictly, and checks what the deployment promises:
// the public/internal split, probes, resources, known TRACKSTREAM_*
// variables, and references that resolve.
func TestKubernetesOverlays(t *testing.T) {
	root := mustRoot(t)
	kdir := filepath.Join(root, "deploy", "kubernetes")
	secrets := secretKeys(t, filepath.Join(kdir, "base"))
	envs := roleEnvs(t, buildLikeDockerfile(t, "deploy-check"))

	for _, tc := range []struct {
		dir            string
		ingestReplicas int32
		procReplicas   int32
		replication    string
		clusterSchema  bool
	}{
		{"base", 3, 2, "3", false},
		{"overlays/single-node", 1, 1, "1", false},
		{"overlays/cluster", 3, 6, "3", true},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			m := build(t, filepath.Join(kdir, tc.dir))
			for _, name := range []string{"trackstream-ingest", "trackstream-admin-api"} {
				if m.deployments[name] == nil {
					t.Fatalf("no Deployment %s", name)
				}
			}
			// Processors are static group members: each needs a stable,
			// unique id, which only a StatefulSet's pod names give.
			if m.statefulSets["trackstream-processor"] == nil {
				t.Fatal("no StatefulSet trackstream-processor")
			}
			if got := *m.deployments["trackstream-ingest"].Spec.Replicas; got != tc.ingestReplicas {
				t.Errorf("ingest replicas %d, want %d", got, tc.ingestReplicas)
			}
			if got := *m.statefulSets["trackstream-processor"].Spec.Replicas; got != tc.procReplicas {
				t.Errorf("processor replicas %d, want %d", got, tc.procReplicas)
			}
			if got := m.configMap(t, "trackstream-kafka").Data["TRACKSTREAM_KAFKA_REPLICATION_FACTOR"]; got != tc.replication {
				t.Errorf("replication factor %q, want %s", got, tc.replication)
			}
			if got, want := m.configMap(t, "trackstream-kafka-topics").Data["REPLICATION_FACTOR"], tc.replication; got != want {
				t.Errorf("topic Job replication %q, want %s", got, want)
			}
			if a, b := m.configMap(t, "trackstream-kafka-topics").Data["EVENTS_PARTITIONS"], m.configMap(t, "trackstream-kafka").Data["TRACKSTREAM_KAFKA_PARTITIONS"]; a != b {
				t.Errorf("topic Job makes %s partitions, trackstream is told %s", a, b)
			}

			// Public/internal split: only ingest is exposed; admin-api is ClusterIP only.
			if len(m.ingresses) != 1 {
				t.Errorf("%d Ingresses, want exactly the ingest one", len(m.ingresses))
			}
			for _, ing := range m.ingresses {
				if len(ing.Spec.TLS) == 0 {
					t.Errorf("Ingress %s has no TLS", ing.Name)
				}
				for _, tls := range ing.Spec.TLS {
					if secrets[tls.SecretName] == nil {
						t.Errorf("Ingress %s uses TLS secret %s, not in secrets.example.yaml", ing.Name, tls.SecretName)
					}
				}
				for _, r := range ing.Spec.Rules {
					for _, p := range r.HTTP.Paths {
						if p.Backend.Service == nil || p.Backend.Service.Name != "trackstream-ingest" {
							t.Errorf("Ingress %s path %s routes to %+v; only ingest may be public", ing.Name, p.Path, p.Backend.Service)
						}
					}
				}
			}
			for name, s := range m.services {
				if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
					t.Errorf("Service %s is %s; expose ingest through the Ingress and keep every Service ClusterIP", name, s.Spec.Type)
				}
			}
			np := m.netpols["trackstream-admin-api"]
			if np == nil || len(np.Spec.Ingress) == 0 || len(np.Spec.Ingress[0].From) < 2 ||
				np.Spec.Ingress[0].From[0].NamespaceSelector == nil || np.Spec.Ingress[0].From[1].IPBlock == nil {
				t.Errorf("admin-api NetworkPolicy must admit its API port only from a labelled namespace and a CIDR: %+v", np)
			}
			if len(m.hpas) != 1 || m.deployments[m.hpas[0].Spec.ScaleTargetRef.Name] == nil {
				t.Errorf("want one HPA targeting an existing Deployment, have %d", len(m.hpas))
			}
			if m.pdbs["trackstream-ingest"] == nil || m.pdbs["trackstream-processor"] == nil {
				t.Error("ingest and processor need PodDisruptionBudgets")
			}
			for _, j := range []string{"trackstream-kafka-topics", "trackstream-migrate"} {
				if m.jobs[j] == nil {
					t.Errorf("no Job %s", j)
				}
			}
			cluster := m.configMap(t, "trackstream-clickhouse").Data["TRACKSTREAM_CLICKHOUSE_CLUSTER"]
			if (cluster != "") != tc.clusterSchema {
				t.Errorf("processor ClickHouse cluster name %q; want one only in the cluster overlay", cluster)
			}
			if mj := m.jobs["trackstream-migrate"]; mj != nil {
				var fromClickHouse bool
				for _, ef := range mj.Spec.Template.Spec.Containers[0].EnvFrom {
					fromClickHouse = fromClickHouse || (ef.ConfigMapRef != nil && unhashed(ef.ConfigMapRef.Name) == "trackstream-clickhouse")
				}
				if !fromClickHouse {
					t.Error("the migrate Job must read trackstream-clickhouse (the ClickHouse cluster name among it)")
				}
			}

			check := func(kind, name string, spec corev1.PodSpec, needProbes bool) {
				for _, c := range spec.Containers {
					if len(c.Args) > 0 && strings.HasPrefix(c.Image, "ghcr.io/trackstream/trackstream") {
						checkRoleSettings(t, fmt.Sprintf("%s %s container %s", kind, name, c.Name), kind, c, m)
					}
				}
				for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
					where := fmt.Sprintf("%s %s container %s", kind, name, c.Name)
					if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
						t.Errorf("%s: needs memory requests and limits", where)
					}
					var names []string
					for _, e := range c.Env {
						names = append(names, e.Name)
						if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil && !secrets[r.SecretKeyRef.Name][r.SecretKeyRef.Key] {
							t.Errorf("%s: env %s from secret %s key %s, not in secrets.example.yaml", where, e.Name, r.SecretKeyRef.Name, r.SecretKeyRef.Key)
						}
						if r := e.ValueFrom; r != nil && r.ConfigMapKeyRef != nil {
							if cm := m.configMaps[unhashed(r.ConfigMapKeyRef.Name)]; cm == nil || cm.Data[r.ConfigMapKeyRef.Key] == "" {
								t.Errorf("%s: env %s from ConfigMap %s key %s, which the build does not have", where, e.Name, r.ConfigMapKeyRef.Name, r.ConfigMapKeyRef.Key)
							}
						}
					}
					for _, ef := range c.EnvFrom {
						if ef.ConfigMapRef == nil {
							continue
						}
						cm := m.configMaps[unhashed(ef.ConfigMapRef.Name)]
						if cm == nil {
							t.Errorf("%s: envFrom ConfigMap %s not in the build", where, ef.ConfigMapRef.Name)
							continue
						}
						for k := range cm.Data {
							names = append(names, k)
						}
					}
					if strings.HasPrefix(c.Image, "ghcr.io/trackstream/trackstream") {
						if len(c.Args) == 0 {
							t.Errorf("%s: runs trackstream without a role", where)
							continue
						}
						checkEnv(t, envs, where, c.Args[0], names)
						if needProbes && (c.ReadinessProbe == nil || c.LivenessProbe == nil) {
							t.Errorf("%s: needs readiness and liveness probes", where)
						}
					}
				}
			}
			for name, d := range m.deployments {
				check("Deployment", name, d.Spec.Template.Spec, true)
			}
			for name, st := range m.statefulSets {
				check("StatefulSet", name, st.Spec.Template.Spec, true)
				if m.services[st.Spec.ServiceName] == nil {
					t.Errorf("StatefulSet %s names Service %q, which the build does not have", name, st.Spec.ServiceName)
				}
			}
			for name, j := range m.jobs {
				check("Job", name, j.Spec.Template.Spec, false)
			}
		})
	}
}

// checkRoleSettings checks the settings a role needs in a cluster: a
// processor's static member id is its StatefulSet pod's name (stable
// across restarts, unique per pod), and admin-api accepts the Host names
// of its own Service (the DNS names clients in the cluster use).
func checkRoleSettings(t *testing.T, where, kind string, c corev1.Container, m manifests) {
	t.Helper()
	switch c.Args[0] {
	case "processor":
		var fromPodName bool
		for _, e := range c.Env {
			if e.Name == "TRACKSTREAM_PROCESSOR_INSTANCE_ID" {
				fromPodName = e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
			}
		}
		if !fromPodName || kind != "StatefulSet" {
			t.Errorf("%s: TRACKSTREAM_PROCESSOR_INSTANCE_ID must be the StatefulSet pod name (downward API metadata.name), so each restarted processor rejoins as the same static member", where)
		}
	case "admin-api":
		var hosts string
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil {
				if cm := m.configMaps[unhashed(ef.ConfigMapRef.Name)]; cm != nil && cm.Data["TRACKSTREAM_ADMIN_ALLOWED_HOSTS"] != "" {
					hosts = cm.Data["TRACKSTREAM_ADMIN_ALLOWED_HOSTS"]
				}
			}
		}
		allowed := map[string]bool{}
		for _, h := range strings.Split(hosts, ",") {
			allowed[h] = true
		}
		for name, svc := range m.services {
			if svc.Spec.Selector["app.kubernetes.io/component"] != "admin-api" {
				continue
			}
			for _, dns := range []string{name, name + "." + svc.Namespace, name + "." + svc.Namespace + ".svc", name + "." + svc.Namespace + ".svc.cluster.local"} {
				if !allowed[dns] {
					t.Errorf("%s: TRACKSTREAM_ADMIN_ALLOWED_HOSTS %q lacks %s, a DNS name of its Service (requests naming it would get 421)", where, hosts, dns)
				}
			}
		}
	}
}

// TestStrictDecodeRejects proves the decoder refuses a misspelt field.
func TestStrictDecodeRejects(t *testing.T) {
	doc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  tpye: ClusterIP\n"
	if _, err := decodeStrict([]byte(doc)); err == nil || !strings.Contains(err.Error(), "tpye") {
		t.Errorf("a Service with the unknown field tpye decoded: %v", err)
	}
	if _, err := decodeStrict([]byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n")); err == nil {
		t.Error("an unexpected kind was accepted")
	}
}
