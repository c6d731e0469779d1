namespace Confiture.TestServers;

/// <summary>The non-superuser role that tests log in as on both servers.</summary>
public static class TestRoles
{
    public const string MigratorUser = "confiture_migrator";

    // Every character that tends to break hand-built connection strings, SQL literals,
    // postgres_fdw user mappings or shell quoting is in here on purpose, so that code under
    // test has to escape properly. The "é" is precomposed so SCRAM's SASLprep leaves it as is.
    public const string MigratorPassword = "Mi'gr\"at;or\\ pa$s@w:o/r?d#5%={x}é";
}
