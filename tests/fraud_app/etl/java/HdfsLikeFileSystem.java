import java.io.IOException;
import java.net.URI;
import java.util.HashSet;
import java.util.Set;

import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;

/**
 * A local file system with HDFS's rename: a rename onto an existing path is refused
 * (returns false), as DistributedFileSystem.rename(src, dst) does. With the Hadoop setting
 * hdfslike.fail_rename_to=NAME, the first retry of a refused rename of a hidden temporary
 * file (".NAME.tmp-*") onto NAME throws, as a NameNode that fails over or a lost connection
 * would.
 */
public class HdfsLikeFileSystem extends RawLocalFileSystem {
    private static boolean failed = false;
    private static final Set<String> refused = new HashSet<>();

    @Override
    public URI getUri() {
        return URI.create("hdfslike:///");
    }

    @Override
    public String getScheme() {
        return "hdfslike";
    }

    @Override
    public boolean rename(Path src, Path dst) throws IOException {
        if (exists(dst)) {
            refused.add(src.toString());
            return false;
        }
        String fail = getConf().get("hdfslike.fail_rename_to");
        if (fail != null && !failed && dst.getName().equals(fail)
                && src.getName().startsWith("." + fail + ".tmp-")
                && refused.contains(src.toString())) {
            failed = true;
            throw new IOException("injected: the rename of " + src + " failed");
        }
        return super.rename(src, dst);
    }
}
