BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    function New-SourceTables([string] $Database) {
        Invoke-TestSql -Side Source -Database $Database -Sql @'
CREATE TABLE users (id integer PRIMARY KEY, full_name text NOT NULL);
INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 25) g;
CREATE TABLE orders (id integer PRIMARY KEY, user_id integer, total numeric(10, 2));
INSERT INTO orders SELECT g, g % 25 + 1, g * 1.5 FROM generate_series(1, 40) g;
'@ | Out-Null
    }
}

Describe 'Enable-ConfitureFdw parameters' -Tag UnitTests {
    It 'has every parameter the design documents' {
        $documented = @('FetchSize', 'Force', 'ForeignSchema', 'ServerName', 'Source', 'SourceHostForTarget', 'SourcePortForTarget', 'SourceSchema', 'Table', 'Target')
        $documented | Where-Object { $_ -notin (Get-CommandParameterName Enable-ConfitureFdw) } | Should -BeNullOrEmpty -Because 'these documented parameters are missing'
    }

    It 'supports -WhatIf and -Confirm' {
        (Get-Command Enable-ConfitureFdw).Parameters.Keys | Should -Contain 'WhatIf'
        (Get-Command Enable-ConfitureFdw).Parameters.Keys | Should -Contain 'Confirm'
    }

    It 'requires -Source and -Target connections' {
        $parameters = (Get-Command Enable-ConfitureFdw).Parameters
        foreach ($name in 'Source', 'Target') {
            $parameters[$name].ParameterType | Should -Be ([Confiture.PowerShell.Types.ConfitureConnection])
            $parameters[$name].Attributes.Where({ $_ -is [Parameter] }).Mandatory | Should -Contain $true
        }
    }
}

Describe 'Enable-ConfitureFdw as the non-superuser migration role' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-SourceTables $pair.Database
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
        $migration = Enable-ConfitureFdw -Source $src -Target $tgt @peer
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'emits the session with its connections, server and schemas' {
        $migration | Should -BeOfType ([Confiture.PowerShell.Types.ConfitureMigration])
        $migration.Source | Should -Be $src
        $migration.Target | Should -Be $tgt
        $migration.ServerName | Should -Be 'confiture_source_server'
        $migration.ForeignSchema | Should -Be 'old_schema'
        $migration.SourceSchema | Should -Be 'public'
        $migration.Tables | Sort-Object | Should -Be @('orders', 'users')
        $migration.FetchSize | Should -BeGreaterThan 0
    }

    It 'creates one server, one user mapping, the foreign schema and a foreign table per source table' {
        $state = Get-FdwCatalogState $pair

        $state.NamedServers | Should -Be 1
        $state.UserMappings | Should -Be 1
        $state.ForeignSchemas | Should -Be 1
        $state.ForeignTables | Should -Be 2
    }

    It 'points the foreign server at the source''s real host, port and database' {
        $expected = Get-ExpectedSourceAddress $pair
        $options = (Get-FdwCatalogState $pair).ServerOptions

        $options['host'] | Should -Be $expected.Host
        $options['port'] | Should -Be ([string]$expected.Port)
        $options['dbname'] | Should -Be $pair.Database
    }

    It 'maps the migration role to the source login' {
        $mapping = @(Invoke-TestSql -Side Target -Database $pair.Database -Sql "SELECT usename, array_to_string(umoptions, ',') FROM pg_user_mappings WHERE srvname = 'confiture_source_server'")

        $mapping.Count | Should -Be 1
        $mapping[0][0] | Should -Be $pair.MigratorUser
        $mapping[0][1] | Should -Match "(^|,)user=$([regex]::Escape($pair.MigratorUser))(,|$)"
    }

    It 'lets the target read the source''s rows through the foreign tables' {
        Get-TestSqlValue -Side Target -Database $pair.Database -AsMigrator -Sql 'SELECT count(*) FROM old_schema.users' | Should -Be '25'
        Get-TestSqlValue -Side Target -Database $pair.Database -AsMigrator -Sql 'SELECT sum(total) FROM old_schema.orders' |
            Should -Be (Get-TestSqlValue -Side Source -Database $pair.Database -Sql 'SELECT sum(total) FROM orders')
    }

    It 'remembers the session, so that -Migration may be left out afterwards' {
        (Get-ConfitureStrategy -Table users).Migration | Should -Be $migration
    }
}

Describe 'Enable-ConfitureFdw run again' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-SourceTables $pair.Database
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
        $first = Enable-ConfitureFdw -Source $src -Target $tgt -FetchSize 500 @peer
        $firstOptions = (Get-FdwCatalogState $pair).ServerOptions
        Invoke-TestSql -Side Source -Database $pair.Database -Sql 'CREATE TABLE invoices (id integer PRIMARY KEY); INSERT INTO invoices SELECT generate_series(1, 7)' | Out-Null
        $second = Enable-ConfitureFdw -Source $src -Target $tgt -FetchSize 2000 @peer
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'updates the server''s options instead of failing' {
        $firstOptions['fetch_size'] | Should -Be '500'
        (Get-FdwCatalogState $pair).ServerOptions['fetch_size'] | Should -Be '2000'
        $second.FetchSize | Should -Be 2000
    }

    It 'keeps one server and one user mapping' {
        $state = Get-FdwCatalogState $pair

        $state.Servers | Should -Be 1
        $state.UserMappings | Should -Be 1
    }

    It 're-imports the foreign tables, including a table added to the source since' {
        (Get-FdwCatalogState $pair).ForeignTables | Should -Be 3
        $second.Tables | Sort-Object | Should -Be @('invoices', 'orders', 'users')
        Get-TestSqlValue -Side Target -Database $pair.Database -AsMigrator -Sql 'SELECT count(*) FROM old_schema.invoices' | Should -Be '7'
    }
}

Describe 'Enable-ConfitureFdw as a superuser' -Tag IntegrationTests {
    BeforeAll {
        # No postgres_fdw in the target database yet: a superuser may create it.
        $pair = New-TestDatabasePair -NoMigratorGrant
        New-SourceTables $pair.Database
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceAdmin
        $tgt = Connect-ConfitureDatabase $pair.TargetAdmin
        $migration = Enable-ConfitureFdw -Source $src -Target $tgt -Table users @peer
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'creates the postgres_fdw extension it needs' {
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM pg_extension WHERE extname = 'postgres_fdw'" | Should -Be '1'
    }

    It 'imports only the tables named with -Table' {
        $migration.Tables | Should -Be @('users')
        (Get-FdwCatalogState $pair).ForeignTables | Should -Be 1
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM old_schema.users' | Should -Be '25'
    }

    It 'points the foreign server at the source''s real host, port and database' {
        $expected = Get-ExpectedSourceAddress $pair
        $options = (Get-FdwCatalogState $pair).ServerOptions

        $options['host'] | Should -Be $expected.Host
        $options['port'] | Should -Be ([string]$expected.Port)
        $options['dbname'] | Should -Be $pair.Database
    }
}

Describe 'Enable-ConfitureFdw refusals' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-SourceTables $pair.Database
        # The target's public schema holds a real table that must never be imported over.
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql 'CREATE TABLE public.users (id integer PRIMARY KEY, display_name text)' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
    }

    BeforeEach {
        $before = Get-FdwCatalogState $pair
    }

    AfterEach {
        # Every refusal leaves the target exactly as it was.
        $after = Get-FdwCatalogState $pair
        $after.Servers | Should -Be $before.Servers
        $after.UserMappings | Should -Be $before.UserMappings
        $after.ForeignTables | Should -Be $before.ForeignTables
        $after.ForeignSchemas | Should -Be $before.ForeignSchemas
        $after.Relations | Should -Be $before.Relations
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'refuses -ForeignSchema public when it holds a table, with Confiture.ForeignSchemaNotEmpty' {
        { Enable-ConfitureFdw -Source $src -Target $tgt -ForeignSchema public @peer } | Should -Throw -ErrorId 'Confiture.ForeignSchemaNotEmpty,*'
        $before.Servers | Should -Be 0
    }

    It 'names the objects that are in the way' {
        $failure = $null
        try { Enable-ConfitureFdw -Source $src -Target $tgt -ForeignSchema public @peer } catch { $failure = $_ }

        $failure.Exception.Message | Should -BeLike '*users*'
        $failure.CategoryInfo.Category | Should -Be 'ResourceExists'
    }

    It 'refuses a source schema that does not exist, with Confiture.SchemaNotFound' {
        { Enable-ConfitureFdw -Source $src -Target $tgt -SourceSchema no_such_schema @peer } | Should -Throw -ErrorId 'Confiture.SchemaNotFound,*'
    }

    It 'refuses a -Table that is not on the source, with Confiture.TableNotFound' {
        { Enable-ConfitureFdw -Source $src -Target $tgt -Table users, no_such_table @peer } | Should -Throw -ErrorId 'Confiture.TableNotFound,*'
    }

    It 'fails with Confiture.FdwConnectionFailed when the target cannot reach the source, and creates nothing' {
        $nowhere = @{ SourceHostForTarget = '127.0.0.1'; SourcePortForTarget = (Get-FreeTcpPort) }

        { Enable-ConfitureFdw -Source $src -Target $tgt @nowhere } | Should -Throw -ErrorId 'Confiture.FdwConnectionFailed,*'
    }

    It 'shows no password in the error when the target cannot reach the source' {
        $failure = $null
        try { Enable-ConfitureFdw -Source $src -Target $tgt -SourceHostForTarget 127.0.0.1 -SourcePortForTarget (Get-FreeTcpPort) } catch { $failure = $_ }

        $failure | Should -Not -BeNullOrEmpty
        $text = @($failure.ToString(), $failure.Exception.ToString(), "$($failure.ErrorDetails.Message)", ($failure | Format-List * -Force | Out-String)) -join "`n"
        foreach ($form in Get-SecretForm $pair.MigratorPassword) {
            $text.Contains($form) | Should -BeFalse -Because "the password (as '$form') must not show"
        }
    }
}

Describe 'Enable-ConfitureFdw and objects it does not own' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-SourceTables $pair.Database
        # A DBA's own server under the default name, pointing somewhere else.
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql "CREATE SERVER confiture_source_server FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'reporting.example', dbname 'reports')" | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'refuses to take over a foreign server it did not create, with Confiture.ServerNotOwned' {
        { Enable-ConfitureFdw -Source $src -Target $tgt @peer } | Should -Throw -ErrorId 'Confiture.ServerNotOwned,*'
    }

    It 'leaves that server''s options and the target as they were' {
        try { Enable-ConfitureFdw -Source $src -Target $tgt @peer } catch { }
        $state = Get-FdwCatalogState $pair

        $state.ServerOptions['host'] | Should -Be 'reporting.example'
        $state.ServerOptions['dbname'] | Should -Be 'reports'
        $state.UserMappings | Should -Be 0
        $state.ForeignSchemas | Should -Be 0
    }

    It 'works beside it under another -ServerName' {
        $migration = Enable-ConfitureFdw -Source $src -Target $tgt -ServerName confiture_other -ForeignSchema other_schema @peer

        $migration.ServerName | Should -Be 'confiture_other'
        (Get-FdwCatalogState $pair -ServerName confiture_other -ForeignSchema other_schema).ForeignTables | Should -Be 2
    }
}

Describe 'Enable-ConfitureFdw without the rights it needs' -Tag IntegrationTests {
    BeforeAll {
        # A target database the migration role does not own and where nobody prepared postgres_fdw.
        $pair = New-TestDatabasePair -NoMigratorGrant
        New-SourceTables $pair.Database
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'fails with Confiture.FdwExtensionMissing when postgres_fdw is not created and the role may not create it' {
        { Enable-ConfitureFdw -Source $src -Target $tgt @peer } | Should -Throw -ErrorId 'Confiture.FdwExtensionMissing,*'
        (Get-FdwCatalogState $pair).Servers | Should -Be 0
    }

    It 'fails with Confiture.FdwUsageDenied when the role lacks USAGE on postgres_fdw' {
        Invoke-TestSql -Side Target -Database $pair.Database -Sql 'CREATE EXTENSION IF NOT EXISTS postgres_fdw' | Out-Null

        { Enable-ConfitureFdw -Source $src -Target $tgt @peer } | Should -Throw -ErrorId 'Confiture.FdwUsageDenied,*'
        (Get-FdwCatalogState $pair).Servers | Should -Be 0
    }
}

Describe 'Enable-ConfitureFdw with names that need quoting' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        $sourceSchema = 'Legacy "Data"; x'
        $table = 'Order Items "2024"; drop table x;--'
        $foreignSchema = 'Old Schema "F"'
        $serverName = 'Source Server "S"; drop table x;--'
        $qs = ConvertTo-SqlIdentifier $sourceSchema
        $qt = ConvertTo-SqlIdentifier $table
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @"
CREATE TABLE x (id integer);
CREATE SCHEMA $qs;
CREATE TABLE $qs.$qt (id integer PRIMARY KEY, "Item ""Name""" text);
INSERT INTO $qs.$qt SELECT g, 'item ' || g FROM generate_series(1, 12) g;
"@ | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql 'CREATE TABLE x (id integer)' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
        $migration = Enable-ConfitureFdw -Source $src -Target $tgt -SourceSchema $sourceSchema -Table $table -ForeignSchema $foreignSchema -ServerName $serverName @peer
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'imports the table under its exact name into the exactly named schema and server' {
        $found = Get-TestSqlValue -Side Target -Database $pair.Database -Sql @"
SELECT count(*) FROM pg_foreign_table ft
JOIN pg_class c ON c.oid = ft.ftrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_foreign_server s ON s.oid = ft.ftserver
WHERE c.relname = $(ConvertTo-SqlLiteral $table) AND n.nspname = $(ConvertTo-SqlLiteral $foreignSchema) AND s.srvname = $(ConvertTo-SqlLiteral $serverName)
"@
        $found | Should -Be '1'
        $migration.Tables | Should -Be @($table)
    }

    It 'reads the rows through the foreign table' {
        Get-TestSqlValue -Side Target -Database $pair.Database -AsMigrator -Sql "SELECT count(*) FROM $(ConvertTo-SqlIdentifier $foreignSchema).$(ConvertTo-SqlIdentifier $table)" |
            Should -Be '12'
    }

    It 'ran none of the names as SQL: table x is still there on both sides' {
        Get-TestSqlValue -Side Source -Database $pair.Database -Sql "SELECT to_regclass('public.x') IS NOT NULL" | Should -Be 't'
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT to_regclass('public.x') IS NOT NULL" | Should -Be 't'
    }

    It 'is removed completely by Remove-ConfitureFdw' {
        $migration | Remove-ConfitureFdw
        $state = Get-FdwCatalogState $pair -ServerName $serverName -ForeignSchema $foreignSchema

        $state.NamedServers | Should -Be 0
        $state.UserMappings | Should -Be 0
        $state.ForeignTables | Should -Be 0
        $state.ForeignSchemas | Should -Be 0
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT to_regclass('public.x') IS NOT NULL" | Should -Be 't'
    }
}

Describe 'Enable-ConfitureFdw -WhatIf and -Verbose' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-SourceTables $pair.Database
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    Context '-WhatIf' {
        BeforeAll {
            $before = Get-FdwCatalogState $pair
            $run = Get-HostOutput { Enable-ConfitureFdw -Source $src -Target $tgt -WhatIf @peer }
            $whatIf = $run.Text
            $after = Get-FdwCatalogState $pair
        }

        It 'changes nothing on the target' {
            $after.Servers | Should -Be $before.Servers
            $after.UserMappings | Should -Be $before.UserMappings
            $after.ForeignTables | Should -Be $before.ForeignTables
            $after.ForeignSchemas | Should -Be $before.ForeignSchemas
            $after.Relations | Should -Be $before.Relations
            $after.Servers | Should -Be 0
        }

        It 'emits no session' {
            $run.Output | Should -BeNullOrEmpty
        }

        It 'lists the statements it would run' {
            $whatIf | Should -Match 'What if:'
            $whatIf | Should -Match 'CREATE SERVER "confiture_source_server"'
            $whatIf | Should -Match 'CREATE USER MAPPING'
            $whatIf | Should -Match 'CREATE SCHEMA "old_schema"'
            $whatIf | Should -Match 'IMPORT FOREIGN SCHEMA "public"'
        }

        It 'masks the password in the statements it lists' {
            $whatIf | Should -Match "password '\*{8}'"
            foreach ($form in Get-SecretForm $pair.MigratorPassword) {
                $whatIf.Contains($form) | Should -BeFalse -Because "the password (as '$form') must not show"
            }
        }
    }

    Context '-Verbose' {
        BeforeAll {
            $records = @(Enable-ConfitureFdw -Source $src -Target $tgt -Verbose @peer 4>&1)
            $verbose = ($records | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message) -join "`n"
            $migration = $records | Where-Object { $_ -is [Confiture.PowerShell.Types.ConfitureMigration] }
        }

        AfterAll {
            $migration | Remove-ConfitureFdw
        }

        It 'still sets up the session' {
            @($migration).Count | Should -Be 1
            (Get-FdwCatalogState $pair).ForeignTables | Should -Be 2
        }

        It 'shows each statement it runs, with its timing' {
            $verbose | Should -Match '\[\d+ ms\] CREATE SERVER "confiture_source_server"'
            $verbose | Should -Match '\[\d+ ms\] CREATE USER MAPPING'
            $verbose | Should -Match '\[\d+ ms\] IMPORT FOREIGN SCHEMA "public"'
        }

        It 'never shows the password' {
            $verbose | Should -Match "password '\*{8}'"
            foreach ($form in Get-SecretForm $pair.MigratorPassword) {
                $verbose.Contains($form) | Should -BeFalse -Because "the password (as '$form') must not show"
            }
        }
    }
}

Describe 'Enable-ConfitureFdw and a table postgres_fdw cannot import' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        # The new schema dropped the type: the target has no "mood", so the import of "feelings" fails.
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @'
CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE TABLE feelings (id integer PRIMARY KEY, m mood);
INSERT INTO feelings VALUES (1, 'ok'), (2, 'sad');
CREATE TABLE users (id integer PRIMARY KEY);
'@ | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
        $migration = Enable-ConfitureFdw -Source $src -Target $tgt @peer -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'sets up the session with the other tables' {
        $migration.Tables | Sort-Object | Should -Be @('feelings', 'users')
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT string_agg(relname, ',') FROM pg_class WHERE relkind = 'f'" | Should -Be 'users'
    }

    It 'warns naming the table and PostgreSQL''s reason' {
        ($warnings -join "`n") | Should -BeLike '*"feelings"*mood*'
    }

    It 'plans that table as Copy' {
        ($migration | Get-ConfitureStrategy -Table feelings).Strategy | Should -Be 'Copy'
    }
}
