<#
    Errors as a contract: each failure is an ErrorRecord with a stable ErrorId (Confiture.<Reason>),
    a fitting category, the table (or other object at fault) as target, the original exception as
    inner exception where there is one, and a recommended action.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Native.Helpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    function Get-ErrorRecord([scriptblock] $ScriptBlock) {
        try { & $ScriptBlock | Out-Null }
        catch { return $_ }
        throw 'The call did not fail.'
    }

    function Assert-Contract {
        param($ErrorRecord, [string] $ErrorId, [string] $Category, $TargetObject, [switch] $HasInner)
        $ErrorRecord.FullyQualifiedErrorId | Should -BeLike "$ErrorId,*"
        $ErrorRecord.CategoryInfo.Category | Should -Be $Category
        if ($PSBoundParameters.ContainsKey('TargetObject')) { $ErrorRecord.TargetObject | Should -Be $TargetObject }
        $ErrorRecord.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
        if ($HasInner) { $ErrorRecord.Exception.InnerException | Should -Not -BeNullOrEmpty }
    }

    $pair = New-NativeFixture
    $fdw = $pair.FdwParameters
    $secret = [regex]::Escape($pair.MigratorPassword)
    $migration = Enable-ConfitureFdw -Source $pair.Source -Target $pair.Target @fdw -Confirm:$false
}

AfterAll {
    if ($migration) { $migration | Remove-ConfitureFdw -Confirm:$false -ErrorAction Continue }
    if ($pair) { Remove-TestDatabasePair $pair }
}

Describe 'Connect-ConfitureDatabase errors' {
    It 'a wrong password is Confiture.AuthenticationFailed, with the server''s error inside and no password shown' {
        $server = Get-TestServer Source
        $wrong = New-ConnectionString -Server $server -Database $pair.Database -Username $pair.MigratorUser -Password 'not-the-password'
        { Connect-ConfitureDatabase -ConnectionString $wrong } | Should -Throw -ErrorId 'Confiture.AuthenticationFailed,*'
        $record = Get-ErrorRecord { Connect-ConfitureDatabase -ConnectionString $wrong }
        Assert-Contract $record 'Confiture.AuthenticationFailed' 'AuthenticationError' -HasInner
        # The server's error, as the engine keeps it: its SQLSTATE is 28P01, invalid_password.
        $record.Exception.InnerException.GetType().Name | Should -Match 'Postgres'
        $record.Exception.InnerException.SqlState | Should -Be '28P01'
        $record.TargetObject | Should -Match ([regex]::Escape("$($pair.MigratorUser)@"))
        ($record | Out-String) + $record.Exception.ToString() | Should -Not -Match 'not-the-password'
    }

    It 'an unknown database is Confiture.DatabaseNotFound' {
        $cs = New-ConnectionString -Server (Get-TestServer Source) -Database 'no_such_database_here'
        { Connect-ConfitureDatabase -ConnectionString $cs } | Should -Throw -ErrorId 'Confiture.DatabaseNotFound,*'
        Assert-Contract (Get-ErrorRecord { Connect-ConfitureDatabase -ConnectionString $cs }) 'Confiture.DatabaseNotFound' 'ObjectNotFound' -HasInner
    }

    It 'a closed port is Confiture.ConnectionFailed' {
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $listener.Start(); $port = $listener.LocalEndpoint.Port; $listener.Stop()
        $cs = "Host=127.0.0.1;Port=$port;Database=x;Username=x;Password=x;Timeout=3"
        Assert-Contract (Get-ErrorRecord { Connect-ConfitureDatabase -ConnectionString $cs }) 'Confiture.ConnectionFailed' 'ConnectionError' -HasInner
    }

    It 'a malformed connection string is Confiture.InvalidConnectionString' {
        Assert-Contract (Get-ErrorRecord { Connect-ConfitureDatabase -ConnectionString 'Port=5432;Database=x' }) 'Confiture.InvalidConnectionString' 'InvalidArgument'
    }
}

Describe 'Enable-ConfitureFdw errors' {
    It 'a table that is not on the source is Confiture.TableNotFound, with the table as target' {
        $record = Get-ErrorRecord { Enable-ConfitureFdw -Source $pair.Source -Target $pair.Target @fdw -ServerName other_server -Table users, nope -Confirm:$false }
        Assert-Contract $record 'Confiture.TableNotFound' 'ObjectNotFound' -TargetObject 'nope'
    }

    It 'a foreign server Confiture did not create is Confiture.ServerNotOwned' {
        Invoke-TestSql -Side Target -Database $pair.Database -Sql 'CREATE SERVER not_ours FOREIGN DATA WRAPPER postgres_fdw' | Out-Null
        { Enable-ConfitureFdw -Source $pair.Source -Target $pair.Target @fdw -ServerName not_ours -Confirm:$false } | Should -Throw -ErrorId 'Confiture.ServerNotOwned,*'
        $record = Get-ErrorRecord { Enable-ConfitureFdw -Source $pair.Source -Target $pair.Target @fdw -ServerName not_ours -Confirm:$false }
        Assert-Contract $record 'Confiture.ServerNotOwned' 'ResourceExists' -TargetObject 'not_ours'
        $record.ErrorDetails.RecommendedAction | Should -Match '-ServerName'
    }
}

Describe 'Invoke-ConfitureTableMigration errors' {
    It 'a mapping key that is a near miss is Confiture.ColumnNotFound, with a suggestion' {
        { Invoke-ConfitureTableMigration -Migration $migration -SourceTable users -ColumnMapping @{ id = 'id'; fullname = 'full_name' } -ErrorAction Stop } |
            Should -Throw -ErrorId 'Confiture.ColumnNotFound,*'
        $record = Get-ErrorRecord { Invoke-ConfitureTableMigration -Migration $migration -SourceTable users -ColumnMapping @{ id = 'id'; fullname = 'full_name' } -ErrorAction Stop }
        Assert-Contract $record 'Confiture.ColumnNotFound' 'ObjectNotFound' -TargetObject 'users'
        $record.Exception.Message | Should -Be 'No column "fullname" on the source table "users"; did you mean "full_name"?'
        $record.ErrorDetails.RecommendedAction | Should -Match 'full_name'
        Invoke-TestSql -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM users' | Should -Be '0'
    }

    It 'a near miss on the target side names the target table' {
        $record = Get-ErrorRecord { Invoke-ConfitureTableMigration -Migration $migration -SourceTable users -ColumnMapping @{ id = 'id'; full_name = 'fullname' } -ErrorAction Stop }
        Assert-Contract $record 'Confiture.ColumnNotFound' 'ObjectNotFound' -TargetObject 'users'
        $record.Exception.Message | Should -Match 'target table "users"; did you mean "full_name"\?'
    }

    It 'a target that holds rows is Confiture.TargetNotEmpty, and the rows stay' {
        Invoke-TestSql -Side Target -Database $pair.Database -Sql "INSERT INTO orders VALUES (1000, 'keep me')" | Out-Null
        try {
            { Invoke-ConfitureTableMigration -Migration $migration -SourceTable orders -ErrorAction Stop } | Should -Throw -ErrorId 'Confiture.TargetNotEmpty,*'
            $record = Get-ErrorRecord { Invoke-ConfitureTableMigration -Migration $migration -SourceTable orders -ErrorAction Stop }
            Assert-Contract $record 'Confiture.TargetNotEmpty' 'ResourceExists' -TargetObject 'orders'
            $record.ErrorDetails.RecommendedAction | Should -Match '-Truncate'
            Invoke-TestSql -Side Target -Database $pair.Database -Sql 'SELECT note FROM orders' | Should -Be 'keep me'
        }
        finally {
            Invoke-TestSql -Side Target -Database $pair.Database -Sql 'DELETE FROM orders' | Out-Null
        }
    }

    It 'a table that is not on the target is Confiture.TableNotFound' {
        $record = Get-ErrorRecord { Invoke-ConfitureTableMigration -Migration $migration -SourceTable users -TargetTable people -ErrorAction Stop }
        Assert-Contract $record 'Confiture.TableNotFound' 'ObjectNotFound' -TargetObject 'people'
    }

    It 'an empty column name in -ColumnMapping is Confiture.InvalidArgument' {
        $record = Get-ErrorRecord { Invoke-ConfitureTableMigration -Migration $migration -SourceTable users -ColumnMapping @{ id = '' } -ErrorAction Stop }
        Assert-Contract $record 'Confiture.InvalidArgument' 'InvalidArgument' -TargetObject 'users'
    }

    It 'a NUL character in a name is Confiture.InvalidArgument, refused before any database is asked' {
        $record = Get-ErrorRecord { Invoke-ConfitureTableMigration -Migration $migration -SourceTable "us`0ers" -ErrorAction Stop }
        Assert-Contract $record 'Confiture.InvalidArgument' 'InvalidArgument' -TargetObject 'us\0ers'
        $record.Exception.Message | Should -Match '-SourceTable contains a NUL character'
    }

    It 'a failing table is a non-terminating error: the next table still migrates' {
        $errors = $null
        $results = @([pscustomobject]@{ Table = 'nope' }, [pscustomobject]@{ Table = "it's" } | Invoke-ConfitureTableMigration -Migration $migration -Strategy Fdw -Confirm:$false -ErrorVariable errors -ErrorAction SilentlyContinue)
        $results.SourceTable | Should -Be @("it's")
        $errors.Count | Should -Be 1
        Assert-Contract $errors[0] 'Confiture.TableNotFound' 'ObjectNotFound' -TargetObject 'nope'
    }

    It 'a constraint violation on load is Confiture.MigrationFailed, rolled back, with the server''s error inside' {
        Invoke-TestSql -Side Target -Database $pair.Database -Sql 'ALTER TABLE "Order Lines" ADD CONSTRAINT qty_small CHECK (qty < 5)' | Out-Null
        try {
            $record = Get-ErrorRecord { Invoke-ConfitureTableMigration -Migration $migration -SourceTable 'Order Lines' -Strategy Copy -ErrorAction Stop }
            Assert-Contract $record 'Confiture.MigrationFailed' 'WriteError' -TargetObject 'Order Lines' -HasInner
            $record.Exception.InnerException.SqlState | Should -Be '23514'
            Invoke-TestSql -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM "Order Lines"' | Should -Be '0'
        }
        finally {
            Invoke-TestSql -Side Target -Database $pair.Database -Sql 'ALTER TABLE "Order Lines" DROP CONSTRAINT qty_small' | Out-Null
        }
    }
}

Describe 'One SqlState, one ErrorId, on every cmdlet' {
    BeforeAll {
        # A policy on the source that applies to the migration role: Confiture's sessions run with
        # row_security off, so PostgreSQL refuses (42501) instead of quietly hiding rows.
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @"
CREATE TABLE guarded (id int PRIMARY KEY, v text);
INSERT INTO guarded SELECT g, 'v' FROM generate_series(1, 20) g;
GRANT SELECT ON guarded TO PUBLIC;
ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
CREATE POLICY first_ten ON guarded USING (id <= 10);
"@ | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -Sql "CREATE TABLE guarded (id int PRIMARY KEY, v text); ALTER TABLE guarded OWNER TO $($pair.MigratorUser);" | Out-Null
    }

    It 'a row-level security refusal is Confiture.PermissionDenied from <Command>' -ForEach @(
        @{ Command = 'Invoke-ConfitureTableMigration'; Call = { Invoke-ConfitureTableMigration -Migration $migration -SourceTable guarded -Strategy Copy -ErrorAction Stop } }
        # A brief lock on the source lets the target's digest finish first: the verifier's two digests run at once.
        @{ Command = 'Test-ConfitureMigration -Checksum'; Call = {
                $lock = Start-TestSqlSession -Side Source -Database $pair.Database -Sql 'BEGIN; LOCK TABLE guarded IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT;'
                try {
                    Wait-TestCondition { [int](Get-TestSqlValue -Side Source -Database $pair.Database -Sql "SELECT count(*) FROM pg_locks WHERE relation = 'guarded'::regclass AND mode = 'AccessExclusiveLock' AND granted") -gt 0 } -Because 'the source table is locked'
                    Test-ConfitureMigration -Migration $migration -Table guarded -Checksum -ErrorAction Stop
                }
                finally { Stop-TestSqlSession $lock -Sql '' }
            } }
        @{ Command = 'Get-ConfitureStrategy'; Call = { $migration | Get-ConfitureStrategy -Table guarded -ErrorAction Stop } }
    ) {
        $record = Get-ErrorRecord $Call
        Assert-Contract $record 'Confiture.PermissionDenied' 'PermissionDenied' -HasInner
        $record.Exception.Message | Should -Match 'source server'
        $record.Exception.InnerException.SqlState | Should -Be '42501'
        Invoke-TestSql -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM guarded' | Should -Be '0'
    }

    It 'a lock held on the target table is reported while it lasts, then Confiture.LockTimeout after -LockTimeout' {
        $holder = Start-TestSqlSession -Side Target -Database $pair.Database -Sql "SET application_name = 'nightly-report'; BEGIN; LOCK TABLE orders IN ACCESS SHARE MODE;"
        try {
            Wait-TestCondition { [int](Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'nightly-report' AND l.relation = 'orders'::regclass") -gt 0 } -Because 'the other session holds its lock'
            $warnings = $null
            $record = $null
            # Not through Get-ErrorRecord: -WarningVariable sets the variable in the scope that runs the call.
            try { Invoke-ConfitureTableMigration -Migration $migration -SourceTable orders -Strategy Copy -Truncate -Force -LockTimeout 3 -WarningVariable warnings -WarningAction SilentlyContinue -ErrorAction Stop | Out-Null }
            catch { $record = $_ }
            $record | Should -Not -BeNullOrEmpty -Because 'the lock is never granted'
            Assert-Contract $record 'Confiture.LockTimeout' 'InvalidOperation' -HasInner
            $record.Exception.Message | Should -Match '-LockTimeout 3 s'
            ($warnings | Out-String) | Should -Match "nightly-report"
            ($warnings | Out-String) | Should -Match 'target server'
        }
        finally {
            Stop-TestSqlSession $holder
        }
        Invoke-TestSql -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM orders' | Should -Be '0'
    }
}

Describe 'Errors of the other cmdlets' {
    It 'Get-ConfitureStrategy names the missing table' {
        { $migration | Get-ConfitureStrategy -Table users, nope -ErrorAction Stop } | Should -Throw -ErrorId 'Confiture.TableNotFound,*'
        Assert-Contract (Get-ErrorRecord { $migration | Get-ConfitureStrategy -Table users, nope -ErrorAction Stop }) 'Confiture.TableNotFound' 'ObjectNotFound' -TargetObject 'nope'
    }

    It 'Test-ConfitureMigration names the table missing on the target' {
        Assert-Contract (Get-ErrorRecord { Test-ConfitureMigration -Migration $migration -Table users -TargetTable people -ErrorAction Stop }) 'Confiture.TableNotFound' 'ObjectNotFound' -TargetObject 'people' -HasInner
    }

    It 'Test-ConfitureMigration refuses -TargetTable with several tables as Confiture.InvalidArgument' {
        { Test-ConfitureMigration -Migration $migration -Table users, orders -TargetTable people } | Should -Throw -ErrorId 'Confiture.InvalidArgument,*'
        Assert-Contract (Get-ErrorRecord { Test-ConfitureMigration -Migration $migration -Table users, orders -TargetTable people }) 'Confiture.InvalidArgument' 'InvalidArgument' -TargetObject 'people'
    }

    It 'no session is Confiture.NoSession' {
        # A new runspace has no session of its own (sessions are per runspace).
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript("Import-Module '$(Get-ModuleManifestPath)'; try { Get-ConfitureStrategy } catch { `$_ }")
            $record = @($ps.Invoke())[0]
            Assert-Contract $record 'Confiture.NoSession' 'InvalidOperation'
            $record.ErrorDetails.RecommendedAction | Should -Match 'Enable-ConfitureFdw'
        }
        finally {
            $ps.Dispose()
        }
    }
}
