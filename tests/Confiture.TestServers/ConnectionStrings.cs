using Npgsql;

namespace Confiture.TestServers;

internal static class ConnectionStrings
{
    public const string MaintenanceDatabase = "postgres";

    public static string Admin(string host, int port, string username, string password) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = host,
            Port = port,
            Username = username,
            Password = password,
            Database = MaintenanceDatabase,
        }.ConnectionString;

    public static string WithDatabase(string connectionString, string database) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Database = database }.ConnectionString;

    public static string WithLogin(string connectionString, string database, string username, string password) =>
        new NpgsqlConnectionStringBuilder(connectionString)
        {
            Database = database,
            Username = username,
            Password = password,
        }.ConnectionString;
}
