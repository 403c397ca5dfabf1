package audit

import (
	"strings"

	"github.com/lighthouse-project/lighthouse/gen/check"
)

// class is what a part of an artifact controls, for telling a difference
// that widens privileges from one that does not.
type class int

const (
	// plain: configuration (labels, resources, timings, variables).
	plain class = iota
	// code: what runs (image, base, build steps, entrypoint, commands,
	// containers, services, health check commands): added or changed, it
	// runs code the spec does not.
	code
	// namespaces: host network, PID, IPC, user namespaces.
	namespaces
	// privilege: capabilities, privileged, seccomp, AppArmor, privilege
	// escalation, the user, a read-only root, the service account token.
	privilege
	// host: host paths, volumes, devices.
	host
	// network: ports, services, network policies.
	network
)

// field maps the parts of an artifact matching pattern (names separated
// by ".", "*" one name, "$" one name captured, a trailing "**" any rest)
// to the spec field they come from ("$" replaced by the captured name)
// and to what they control.
type field struct {
	pattern string
	spec    string
	class   class
}

// fields are, per artifact, where each part of the artifact comes from in
// the spec; the first matching pattern wins. A part no pattern matches
// comes from no spec field (it points at the spec's name) and is plain.
var fields = map[string][]field{
	check.FileDockerfile: {
		{"directives.**", "image.runtime", code},
		{"args.**", "image.runtime", code},
		{"stages.final.from", "image.runtime", code},
		{"stages.*.from", "image.builder", code},
		{"stages.*.platform", "image.runtime", code},
		{"stages.final.steps.**", "entry.binary", code},
		{"stages.*.steps.**", "entry.package", code},
		{"stages.*.user", "image.user", privilege},
		{"stages.*.workdir", "image.workdir", plain},
		{"stages.*.env.$", "env.$", plain},
		{"stages.*.env", "env", plain},
		{"stages.*.args.**", "image", code},
		{"stages.*.labels.**", "labels", plain},
		{"stages.*.expose.**", "ports", network},
		{"stages.*.healthcheck.test.**", "entry.health", code},
		{"stages.*.healthcheck.interval", "health.interval", plain},
		{"stages.*.healthcheck.timeout", "health.timeout", plain},
		{"stages.*.healthcheck.start_period", "health.startPeriod", plain},
		{"stages.*.healthcheck.retries", "health.retries", plain},
		{"stages.*.healthcheck.disable", "health", plain}, // HEALTHCHECK NONE runs nothing
		{"stages.*.healthcheck.**", "health", code},
		{"stages.*.entrypoint.**", "entry", code},
		{"stages.*.cmd.**", "entry.args", code},
		{"stages.*.shell.**", "entry", code},
		{"stages.*.onbuild.**", "image", code},
		{"stages.*.volumes.**", "volumes", host},
		{"stages.*.stopsignal", "workload.stopGracePeriod", plain},
		{"stages.*", "image", code},
	},
	check.FileScript: {
		{"interpreter", "image.runtime", code},
		{"commands.**", "entry", code},
	},
	check.FileCompose: {
		{"name", "name", plain},
		{"services.*.image", "image.ref", code},
		{"services.*.build.**", "image", code},
		{"services.*.network_mode", "security", namespaces},
		{"services.*.pid", "security", namespaces},
		{"services.*.ipc", "security", namespaces},
		{"services.*.uts", "security", namespaces},
		{"services.*.userns_mode", "security", namespaces},
		{"services.*.cgroup", "security", namespaces},
		{"services.*.cgroup_parent", "security", namespaces},
		{"services.*.cap_add.**", "security.capabilities", privilege},
		{"services.*.cap_drop.**", "security.capabilities", privilege},
		{"services.*.privileged", "security.privileged", privilege},
		{"services.*.security_opt.**", "security", privilege},
		{"services.*.sysctls.**", "security", privilege},
		{"services.*.ulimits.**", "security", privilege},
		{"services.*.user", "image.user", privilege},
		{"services.*.group_add.**", "image.user", privilege},
		{"services.*.read_only", "security.readOnlyRoot", privilege},
		{"services.*.devices.**", "security.devices", host},
		{"services.*.device_cgroup_rules.**", "security.devices", host},
		{"services.*.volumes.**", "volumes", host},
		{"services.*.volumes_from.**", "volumes", host},
		{"services.*.tmpfs.**", "volumes", plain},
		{"services.*.ports.**", "ports", network},
		{"services.*.expose.**", "ports", network},
		{"services.*.networks.**", "ports", network},
		{"services.*.extra_hosts.**", "ports", network},
		{"services.*.links.**", "ports", network},
		{"services.*.external_links.**", "ports", network},
		{"services.*.environment.$", "env.$", plain},
		{"services.*.environment", "env", plain},
		{"services.*.env_file.**", "env", plain},
		{"services.*.healthcheck.test.**", "entry.health", code},
		{"services.*.healthcheck.interval", "health.interval", plain},
		{"services.*.healthcheck.timeout", "health.timeout", plain},
		{"services.*.healthcheck.start_period", "health.startPeriod", plain},
		{"services.*.healthcheck.retries", "health.retries", plain},
		{"services.*.healthcheck.**", "health", plain},
		{"services.*.entrypoint.**", "entry", code},
		{"services.*.command.**", "entry.args", code},
		{"services.*.deploy.resources.**", "resources", plain},
		{"services.*.deploy.replicas", "workload.replicas", plain},
		{"services.*.scale", "workload.replicas", plain},
		{"services.*.restart", "workload.restart", plain},
		{"services.*.deploy.restart_policy.**", "workload.restart", plain},
		{"services.*.stop_grace_period", "workload.stopGracePeriod", plain},
		{"services.*.stop_signal", "workload.stopGracePeriod", plain},
		{"services.*.labels.**", "labels", plain},
		{"services.*.working_dir", "image.workdir", plain},
		{"services.*.secrets.**", "env", host},
		{"services.*.configs.**", "env", host},
		{"services.*", "name", code},
		{"volumes.**", "volumes", host},
		{"networks.**", "ports", network},
		{"secrets.**", "env", host},
		{"configs.**", "env", host},
		{"interpolation.$.**", "env.$", plain},
	},
	check.FileKube: {
		{"NetworkPolicy/*", "ports", network},
		{"Service/*", "ports", network},
		{"ConfigMap/*", "env", plain},
		{"Secret/*", "env", plain},
		{"*.metadata.labels.**", "labels", plain},
		{"*.metadata.annotations.**", "labels", plain},
		{"*.metadata.**", "name", plain},
		{"*.data.$", "env.$", plain},
		{"*.spec.replicas", "workload.replicas", plain},
		{"*.spec.template.metadata.annotations.*apparmor*", "security", privilege},
		{"*.spec.template.metadata.annotations.*seccomp*", "security", privilege},
		{"*.spec.template.metadata.**", "labels", plain},
		{"*.spec.template.spec.hostNetwork", "security", namespaces},
		{"*.spec.template.spec.hostPID", "security", namespaces},
		{"*.spec.template.spec.hostIPC", "security", namespaces},
		{"*.spec.template.spec.hostUsers", "security", namespaces},
		{"*.spec.template.spec.shareProcessNamespace", "security", namespaces},
		{"*.spec.template.spec.securityContext.runAsUser", "image.user.uid", privilege},
		{"*.spec.template.spec.securityContext.runAsGroup", "image.user.gid", privilege},
		{"*.spec.template.spec.securityContext.runAsNonRoot", "image.user.uid", privilege},
		{"*.spec.template.spec.securityContext.**", "security", privilege},
		{"*.spec.template.spec.automountServiceAccountToken", "security", privilege},
		{"*.spec.template.spec.serviceAccountName", "security", privilege},
		{"*.spec.template.spec.serviceAccount", "security", privilege},
		{"*.spec.template.spec.runtimeClassName", "security", privilege},
		{"*.spec.template.spec.volumes.**", "volumes", host},
		{"*.spec.template.spec.terminationGracePeriodSeconds", "workload.stopGracePeriod", plain},
		{"*.spec.template.spec.*.*.securityContext.capabilities.**", "security.capabilities", privilege},
		{"*.spec.template.spec.*.*.securityContext.privileged", "security.privileged", privilege},
		{"*.spec.template.spec.*.*.securityContext.readOnlyRootFilesystem", "security.readOnlyRoot", privilege},
		{"*.spec.template.spec.*.*.securityContext.runAsUser", "image.user.uid", privilege},
		{"*.spec.template.spec.*.*.securityContext.runAsGroup", "image.user.gid", privilege},
		{"*.spec.template.spec.*.*.securityContext.runAsNonRoot", "image.user.uid", privilege},
		{"*.spec.template.spec.*.*.securityContext.**", "security", privilege},
		{"*.spec.template.spec.*.*.image", "image.ref", code},
		{"*.spec.template.spec.*.*.command.**", "entry", code},
		{"*.spec.template.spec.*.*.args.**", "entry.args", code},
		{"*.spec.template.spec.*.*.ports.**", "ports", network},
		{"*.spec.template.spec.*.*.env.$.**", "env.$", plain},
		{"*.spec.template.spec.*.*.env", "env", plain},
		{"*.spec.template.spec.*.*.envFrom.**", "env", plain},
		{"*.spec.template.spec.*.*.resources.*.*/fuse", "kubernetes.fuseResource", host},
		{"*.spec.template.spec.*.*.resources.**", "resources", plain},
		{"*.spec.template.spec.*.*.livenessProbe.exec.**", "health.liveness", code},
		{"*.spec.template.spec.*.*.readinessProbe.exec.**", "health.readiness", code},
		{"*.spec.template.spec.*.*.startupProbe.exec.**", "health.liveness", code},
		{"*.spec.template.spec.*.*.*Probe.httpGet.port", "health.port", plain},
		{"*.spec.template.spec.*.*.*Probe.periodSeconds", "health.interval", plain},
		{"*.spec.template.spec.*.*.*Probe.timeoutSeconds", "health.timeout", plain},
		{"*.spec.template.spec.*.*.livenessProbe.failureThreshold", "health.retries", plain},
		{"*.spec.template.spec.*.*.readinessProbe.failureThreshold", "health.retries", plain},
		{"*.spec.template.spec.*.*.startupProbe.failureThreshold", "health.startPeriod", plain},
		{"*.spec.template.spec.*.*.livenessProbe.**", "health.liveness", plain},
		{"*.spec.template.spec.*.*.readinessProbe.**", "health.readiness", plain},
		{"*.spec.template.spec.*.*.startupProbe.**", "health.liveness", plain},
		{"*.spec.template.spec.*.*.volumeMounts.**", "volumes", host},
		{"*.spec.template.spec.*.*.volumeDevices.**", "volumes", host},
		{"*.spec.template.spec.*.*.workingDir", "image.workdir", plain},
		{"*.spec.template.spec.*.*.lifecycle.**", "entry", code},
		{"*.spec.template.spec.containers.*", "entry", code},
		{"*.spec.template.spec.initContainers.**", "entry", code},
		{"*.spec.template.spec.ephemeralContainers.**", "entry", code},
		{"*.spec.template.spec.**", "workload", plain},
		{"*.spec.volumeClaimTemplates.**", "volumes", plain},
		{"*.spec.selector.**", "name", plain},
		{"*.spec.serviceName", "name", plain},
		{"*.spec.podManagementPolicy", "workload.kind", plain},
		{"*.spec.updateStrategy.**", "workload.kind", plain},
		{"*.spec.ports.**", "ports", network},
		{"*.spec.type", "ports", network},
		{"*.spec.externalIPs.**", "ports", network},
		{"*.spec.loadBalancerIP", "ports", network},
		{"*.spec.loadBalancerSourceRanges.**", "ports", network},
		{"*.spec.externalTrafficPolicy", "ports", network},
		{"*.spec.externalName", "ports", network},
		{"*.spec.ingress.**", "ports", network},
		{"*.spec.egress.**", "ports", network},
		{"*.spec.podSelector.**", "ports", network},
		{"*.spec.policyTypes.**", "ports", network},
		{"*.spec.**", "workload", plain},
		{"*", "name", code},
	},
}

// lookupField returns the spec field and class of the part of artifact
// file at names.
func lookupField(file string, names []string) (string, class) {
	for _, f := range fields[file] {
		if capture, ok := matchField(f.pattern, names); ok {
			return strings.ReplaceAll(f.spec, "$", capture), f.class
		}
	}
	return "", plain
}

// matchField matches names against a field pattern; "*Probe" matches a
// name ending in Probe, "Service/*" one starting with Service/,
// "*seccomp*" one holding seccomp.
func matchField(pattern string, names []string) (string, bool) {
	ps := strings.Split(pattern, ".")
	capture := ""
	for i, p := range ps {
		if p == "**" {
			return capture, true
		}
		if i >= len(names) {
			return "", false
		}
		switch {
		case p == "*":
		case p == "$":
			capture = names[i]
		case len(p) > 2 && strings.HasPrefix(p, "*") && strings.HasSuffix(p, "*"):
			if !strings.Contains(names[i], p[1:len(p)-1]) {
				return "", false
			}
		case strings.HasPrefix(p, "*"):
			if !strings.HasSuffix(names[i], p[1:]) {
				return "", false
			}
		case strings.HasSuffix(p, "*"):
			if !strings.HasPrefix(names[i], p[:len(p)-1]) {
				return "", false
			}
		case p != names[i]:
			return "", false
		}
	}
	return capture, len(ps) == len(names)
}
