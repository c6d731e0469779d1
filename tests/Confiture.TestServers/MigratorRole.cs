using Npgsql;

namespace Confiture.TestServers;

/// <summary>Makes sure <see cref="TestRoles.MigratorUser"/> exists with the known password; safe to repeat.</summary>
internal static class MigratorRole
{
    private const string Attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE";

    public static async Task EnsureAsync(TestServer server, bool readAllData, CancellationToken cancellationToken)
    {
        var connection = await Sql.OpenUnpooledAsync(server.AdminConnectionString, cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            // A server configured for md5 would store an md5 hash, and SCRAM logins would then fail.
            await Sql.ExecuteAsync(connection, "SET password_encryption = 'scram-sha-256'", cancellationToken).ConfigureAwait(false);

            var role = SqlText.Identifier(TestRoles.MigratorUser);
            var password = SqlText.Literal(TestRoles.MigratorPassword);
            var alter = $"ALTER ROLE {role} {Attributes} PASSWORD {password}";
            if (await ExistsAsync(connection, cancellationToken).ConfigureAwait(false))
            {
                await Sql.ExecuteAsync(connection, alter, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                try
                {
                    await Sql.ExecuteAsync(connection, $"CREATE ROLE {role} {Attributes} PASSWORD {password}", cancellationToken)
                        .ConfigureAwait(false);
                }
                catch (PostgresException exception) when (exception.SqlState is PostgresErrorCodes.DuplicateObject
                                                              or PostgresErrorCodes.UniqueViolation)
                {
                    // A concurrent test run created it between the check and the CREATE.
                    await Sql.ExecuteAsync(connection, alter, cancellationToken).ConfigureAwait(false);
                }
            }

            if (readAllData)
            {
                await Sql.ExecuteAsync(connection, $"GRANT pg_read_all_data TO {role}", cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static async Task<bool> ExistsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand("SELECT 1 FROM pg_roles WHERE rolname = $1", connection)
        {
            Parameters = { new NpgsqlParameter { Value = TestRoles.MigratorUser } },
        };
        await using (command.ConfigureAwait(false))
        {
            return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not null;
        }
    }
}
