"""edbp.reference.cloud: the cloud roles — KeyVault (software and PKCS#11), device registry, TAM."""
