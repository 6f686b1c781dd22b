package snapshot_test

import corev1 "k8s.io/api/core/v1"

func corev1EnvVar(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }
